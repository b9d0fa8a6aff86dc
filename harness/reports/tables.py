"""Run records → results/ (Markdown, CSV, LaTeX, PNG): the only way results/ is written.

Why it is built like this:
- Tables come from the records only and are byte-for-byte reproducible: rows are sorted, floats have fixed
  formats, the bootstrap rng is seeded per cell, and no timestamps are written (dates live in the records).
- One record per (method, protocol, dataset, unit); if a unit was re-run, the newest ``created_utc`` wins and a
  footnote names the superseded run.
- Every measured cell carries a 95 % bootstrap CI; comparisons with the reference method use paired tests on
  identical videos, Holm-corrected over the table (../shared/docs/engineering.md §4). Published numbers go to
  their own table only (harness.reports.published).
- EZ-CLIP's ablation variants (``ezclip-no-*``) are one Holm family of their own in ``ablations``
  (harness.reports.ablations), not rows of the methods' tables, where they would dilute the methods' marks.
- Plots must not exaggerate: axes from 0 (or a labelled log scale), a CI on every point, legends instead of text
  at the points. results/README.md states each compared evaluation's n and the difference the exact McNemar
  test can detect there (harness.reports.stats), so "no mark" is not read as "no difference".
"""
from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import stats
from ..errors import HarnessError, closest
from .published import published
from .ablations import FULL as ABLATION_FULL, build_ablations, is_variant
from .controls import build_controls
from .protocols import (zs_target, build_base2novel, build_few_shot, build_zero_shot, created_key, group_by,
                              outcome, views_text)
from .render import ALPHA, DASH, Table, join_values, natural_key

log = logging.getLogger(__name__)

PROTOCOLS = ("base2novel", "zero_shot", "few_shot")
_ALIASES = {"base2novel": "base2novel", "base_to_novel": "base2novel", "b2n": "base2novel",
            "zero_shot": "zero_shot", "zeroshot": "zero_shot", "zero-shot": "zero_shot",
            "few_shot": "few_shot", "fewshot": "few_shot", "few-shot": "few_shot"}
_RECORD_KEYS = ("schema_version", "run_id", "method", "protocol", "dataset", "unit", "evaluations")
_GENERATED_STEMS = {f"{p}{s}" for p in PROTOCOLS for s in ("", "_seeds", "_splits", "_tests", "_provenance")} | {
    "efficiency", "published", "ablations", "controls", "README"}
_PLOT_SUFFIXES = ("vs_gmacs", "vs_trainable_params")
NOT_MEASURED = "not measured"
DETECT_EXAMPLE = 0.10  # README: paired videos needed to detect a gain of this size (10 points)
DEFAULT_REFERENCE = "ezclip"


# ============================================================================================ loading records


def load_records(records_dir: Path) -> tuple[list[dict], list[Path]]:
    """All run records under ``records_dir`` (sorted by path) and the JSON files that are not records."""
    records_dir = Path(records_dir)
    if not records_dir.is_dir():
        raise HarnessError(f"records folder {records_dir} does not exist; run `python -m harness run` first "
                           f"or pass --records DIR")
    records, skipped = [], []
    for path in sorted(records_dir.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"malformed JSON in {path} (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                               f"fix or remove the file") from None
        except UnicodeDecodeError:
            raise HarnessError(f"{path} is not UTF-8 text; fix or remove the file") from None
        if not (isinstance(data, dict) and all(k in data for k in _RECORD_KEYS)
                and isinstance(data["protocol"], dict) and isinstance(data["evaluations"], list)):
            skipped.append(path)
            continue
        if data["schema_version"] != 1:
            raise HarnessError(f"{path} has schema_version {data['schema_version']!r}; this harness reads 1")
        data = dict(data, method=table_method(data), _path=path.relative_to(records_dir).as_posix())
        records.append(data)
    if skipped:
        log.warning("skipped %d JSON file(s) that are not run records: %s", len(skipped),
                    ", ".join(p.relative_to(records_dir).as_posix() for p in skipped))
    return records, skipped


def table_method(record: dict) -> str:
    """The row a record goes to: a released (official) checkpoint's evaluation is ``M (released)``, its own row
    beside the user's runs of M — otherwise the newer of the two would silently replace the other (dedup)."""
    checkpoint = record.get("checkpoint") or {}
    official = checkpoint.get("converted_from") or (
        checkpoint.get("format") and checkpoint["format"] not in ("harness state dict", "mmengine checkpoint"))
    return f"{record['method']} (released)" if official or record.get("reproduction") else record["method"]


def deduplicate(records: list[dict]) -> tuple[list[dict], list[tuple[dict, dict]]]:
    """Keep the newest record per (method, protocol, dataset, unit); return (kept, [(superseded, winner)])."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        key = (rec["method"], protocol_name(rec), rec["dataset"], json.dumps(rec["unit"], sort_keys=True))
        groups[key].append(rec)
    kept, superseded = [], []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=created_key)
        winner = ordered[-1]
        kept.append(winner)
        superseded.extend((old, winner) for old in ordered[:-1])
    return kept, superseded


def protocol_name(record: dict) -> str:
    name = str(record["protocol"].get("name", ""))
    return _ALIASES.get(name.lower(), name)


# ============================================================================================ efficiency


def _machine(rec: dict) -> str:
    machine = (rec.get("environment") or {}).get("machine") or {}
    return str(machine.get("gpu") or machine.get("cpu") or DASH)


def _median(values) -> float | None:
    vals = [float(v) for v in values if v is not None and float(v) > 0]
    return float(np.median(vals)) if vals else None


def _num(x, fmt: str) -> str:
    return DASH if x is None else format(x, fmt)


def _thousands(x) -> str:
    return DASH if x is None else f"{int(x):,}"


def _int(x) -> str:
    return "" if x is None else str(int(x))


def efficiency_rows(records: list[dict]) -> dict[tuple, dict]:
    """Per (method, backbone, frames, input, views): model size, GMACs, median throughput/step time, max memory."""
    groups = group_by(records, lambda r: (r["method"], str((r.get("model") or {}).get("backbone", DASH)),
                                         str((r.get("model") or {}).get("frames", DASH)),
                                         str((r.get("model") or {}).get("input_size", DASH)), views_text(r)))
    out = {}
    for key, recs in sorted(groups.items()):
        model = (recs[-1].get("model") or {})
        views = recs[-1].get("views") or {}
        n_views = int(views.get("clips", 1) or 1) * int(views.get("crops", 1) or 1)
        trainings = [r.get("training") or {} for r in recs]
        # only records that say how memory was measured: older ones hold process RSS (mostly the runtime itself)
        measured = [t for t in trainings if t.get("peak_memory_how") and t.get("peak_memory_mb") is not None]
        mems = [float(t["peak_memory_mb"]) for t in measured]
        out[key] = {
            "total_params": model.get("total_params"), "trainable_params": model.get("trainable_params"),
            "gmacs_per_view": model.get("gmacs_per_view"), "views": n_views, "text_gmacs": model.get("text_gmacs"),
            "throughput": _median(ev.get("throughput_clips_per_s") for r in recs for ev in r["evaluations"]),
            "step_time": _median(t.get("step_time_s") for t in trainings),
            "peak_memory": max(mems) if mems else None,
            "memory_how": sorted({str(t["peak_memory_how"]) for t in measured}),
            "memory_records": len(measured), "trained_records": sum(1 for t in trainings if t),
            "machine": join_values(_machine(r) for r in recs), "records": len(recs)}
    return out


def build_efficiency(records: list[dict]) -> Table:
    header = ["method", "backbone", "frames", "input", "total params", "trainable params", "GMACs/view × views",
              "text GMACs", "throughput (clips/s)", "train step (s)", "peak training memory (MB)",
              "memory measured by", "machine", "records"]
    rows, csv_rows = [], []
    effs = efficiency_rows(records)
    hows = sorted({h for e in effs.values() for h in e["memory_how"]})  # long sentences: footnotes [1], [2], …
    for (method, backbone, frames, size, views), e in effs.items():
        gm = e["gmacs_per_view"]
        how_marks = ", ".join(f"[{hows.index(h) + 1}]" for h in e["memory_how"]) or DASH
        if e["peak_memory"] is not None:
            memory = f"{e['peak_memory']:.0f}"
        else:
            memory = NOT_MEASURED if e["trained_records"] else DASH
        rows.append([method, backbone, frames, size, _thousands(e["total_params"]), _thousands(e["trainable_params"]),
                     DASH if gm is None else f"{gm:.2f} × {e['views']} = {gm * e['views']:.2f}",
                     _num(e["text_gmacs"], ".2f"), _num(e["throughput"], ".1f"), _num(e["step_time"], ".3f"),
                     memory, how_marks, e["machine"], str(e["records"])])
        csv_rows.append([method, backbone, frames, size, _int(e["total_params"]), _int(e["trainable_params"]),
                         "" if gm is None else f"{gm:.4f}", views, str(e["views"]),
                         "" if e["text_gmacs"] is None else f"{e['text_gmacs']:.4f}",
                         "" if e["throughput"] is None else f"{e['throughput']:.3f}",
                         "" if e["step_time"] is None else f"{e['step_time']:.4f}",
                         "" if e["peak_memory"] is None else f"{e['peak_memory']:.1f}", "; ".join(e["memory_how"]),
                         str(e["memory_records"]), e["machine"], str(e["records"])])
    notes = ["GMACs are multiply-accumulates (papers' \"GFLOPs\") of the visual tower per view (clips × crops "
             "views per video); text GMACs are for encoding the class prompts once (engineering.md §3).",
             "Throughput: median over the evaluations of the rows' records; train step: median seconds per "
             "optimizer step. Only comparable on the same machine (column machine).",
             "Peak training memory: largest `training.peak_memory_mb` over the records that state how it was "
             "measured (`training.peak_memory_how`, column memory measured by): what the training itself "
             f"allocated. Records without that key (older runner) held the process's resident memory, mostly the "
             f"Python/torch runtime and the same for every method, so they show \"{NOT_MEASURED}\"; "
             f"{DASH}: not trained.",
             *(f"[{i}] {how}" for i, how in enumerate(hows, 1)),
             "Numbers measured here; published efficiency figures are in methods.md §1.5."]
    return Table("efficiency", "Efficiency: model size, compute and speed (measured)", header, rows,
                 ["method", "backbone", "frames", "input_size", "total_params", "trainable_params",
                  "gmacs_per_view", "views", "n_views", "text_gmacs", "throughput_clips_per_s", "step_time_s",
                  "peak_memory_mb", "peak_memory_how", "memory_records", "machine", "records"], csv_rows, notes)


# ============================================================================================ published


def build_published() -> Table:
    header = ["protocol", "method", "dataset", "top-1 %", "input (frames×size)", "source", "note"]
    rows, csv_rows = [], []
    for r in published():
        v = r["values"]
        if r["protocol"] == "zero_shot":
            shown = f"{v['top1']:.1f}" + (f" ± {v['std']:.1f}" if v.get("std") is not None else "")
        elif r["protocol"] == "base2novel":
            shown = " / ".join(f"{v[k]:.1f}" for k in ("base", "novel", "hm"))
        else:
            shown = " / ".join(DASH if v[k] is None else f"{v[k]:.1f}" for k in (2, 4, 8, 16))
        size = f"{r['frames']}×{r['size']}" if r["frames"] else DASH
        rows.append([r["protocol"], r["method"], r["dataset"], shown, size, r["source"], r["note"]])
        get = lambda key: "" if v.get(key) is None else f"{v[key]:.1f}"  # noqa: E731
        csv_rows.append([r["protocol"], r["method"], r["dataset"], get("top1"), get("std"), get("base"),
                         get("novel"), get("hm"), get(2), get(4), get(8), get(16), str(r["frames"] or ""),
                         str(r["size"] or ""), r["source"], r["note"]])
    notes = ["PUBLISHED, NOT MEASURED HERE: copied from ../shared/docs/methods.md §4.1–4.3 (harness/reports/published.py); "
             "never mixed into the measured tables.",
             "zero_shot: mean (± std) over the 3 target splits, trained on K-400; base2novel: B / N / HM, "
             "seed-averaged; few_shot: K = 2 / 4 / 8 / 16. ViT-B/16. Input — where the source does not state it."]
    return Table("published", "Published numbers (published, not measured here), top-1 %", header, rows,
                 ["protocol", "method", "dataset", "top1", "std", "base", "novel", "hm", "k2", "k4", "k8", "k16",
                  "frames", "size", "source", "note"], csv_rows, notes, origin="harness/reports/published.py")


# ============================================================================================ plots


def plot_points(points: list[dict], records: list[dict]) -> list[dict]:
    """Attach per-(method, dataset) model figures (GMACs × views, trainable params) to plot points."""
    eff = {}
    for rec in records:
        eff.setdefault((rec["method"], rec["dataset"]), []).append(rec)
    out = []
    for p in points:
        recs = eff.get((p["method"], p["dataset"])) or [r for r in records if r["method"] == p["method"]]
        rec = sorted(recs, key=created_key)[-1]
        model, views = rec.get("model") or {}, rec.get("views") or {}
        n_views = int(views.get("clips", 1) or 1) * int(views.get("crops", 1) or 1)
        gmacs, trainable = model.get("gmacs_per_view"), model.get("trainable_params")
        out.append(dict(p, gmacs=None if gmacs is None else float(gmacs) * n_views,
                        trainable=None if trainable is None else float(trainable)))
    return out


_MARKERS = "osD^vP*Xhp<>"
_DODGE_PT = 6.0  # horizontal spread, in points, between markers that would sit on top of each other
_CLUSTER = 0.03  # axes-width fraction under which two x values count as "the same place"


def _x_axis(ax, xkey: str, xs: list[float]) -> str:
    """Set the x scale and limits; return the axis label. Both axes keep 0 in view (GMACs and parameters have
    a true zero); trainable parameters span orders of magnitude (0 for frozen CLIP, 10^4–10^8 otherwise), so they
    use a symmetric log scale that is linear near 0 and says so."""
    top = max(xs) if xs else 0.0
    if xkey == "gmacs":
        ax.set_xlim(0, 1.15 * top if top > 0 else 1.0)
        return "visual GMACs per video (per view × views), linear axis from 0"
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    positive = [x for x in xs if x > 0]
    linthresh = 10.0 ** max(0, math.floor(math.log10(min(positive))) - 1) if positive else 1.0
    ax.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
    right = max(3 * top, 10 * linthresh)
    ax.set_xlim(-0.15 * linthresh, right)  # a little room left of 0 (linear there) so a frozen model's marker shows
    decades = range(round(math.log10(linthresh)), math.floor(math.log10(right)) + 1)
    ax.xaxis.set_major_locator(FixedLocator([0.0] + [10.0 ** k for k in decades]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "0" if x == 0 else f"$10^{{{round(math.log10(x))}}}$"))
    return f"trainable parameters (symmetric log scale: linear 0–{linthresh:,.0f}, log above)"


def _dodges(ax, points: list[dict], xkey: str, methods: list[str]) -> list[float]:
    """Offsets (points) so markers at (nearly) the same x do not hide each other; same method, same offset."""
    if not points:
        return []
    frac = (ax.transScale + ax.transLimits).transform([[p[xkey], 0.0] for p in points])[:, 0]
    order = sorted(range(len(points)), key=lambda i: (frac[i], methods.index(points[i]["method"])))
    clusters, current = [], []
    for i in order:
        if current and frac[i] - frac[current[-1]] > _CLUSTER:
            clusters.append(current)
            current = []
        current.append(i)
    if current:
        clusters.append(current)
    out = [0.0] * len(points)
    for cluster in clusters:
        names = sorted({points[i]["method"] for i in cluster}, key=methods.index)
        for i in cluster:
            out[i] = (names.index(points[i]["method"]) - (len(names) - 1) / 2) * _DODGE_PT
    return out


def plot_figure(protocol: str, label: str, points: list[dict], xkey: str):
    """Accuracy (y, 0–100 %) with 95 % CI error bars vs GMACs or trainable parameters (x, from 0).

    Colour: dataset; marker: method; both in legends outside the axes, so no text sits on the data. Returns the
    matplotlib Figure (no pyplot state) so tests can check its axes before it is saved.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    methods = sorted({p["method"] for p in points})
    datasets = sorted({p["dataset"] for p in points})
    colours = {d: mpl.colormaps["tab10"](i % 10) for i, d in enumerate(datasets)}
    markers = {m: _MARKERS[i % len(_MARKERS)] for i, m in enumerate(methods)}

    missing = sum(1 for p in points if p.get(xkey) is None)
    points = [p for p in points if p.get(xkey) is not None]
    fig = Figure(figsize=(7.8, 4.6), layout="constrained")
    ax = fig.add_subplot()
    xlabel = _x_axis(ax, xkey, [p[xkey] for p in points])
    ax.set_ylim(0, 100)
    dodges = _dodges(ax, points, xkey, methods)
    without_ci = 0
    for p, dx in zip(points, dodges):
        y = 100 * p["value"]
        where = offset_copy(ax.transData, fig=fig, x=dx, y=0, units="points")
        style = dict(marker=markers[p["method"]], color=colours[p["dataset"]], markersize=6, linestyle="none",
                     transform=where)
        if p.get("low") is None:
            without_ci += 1
            ax.plot([p[xkey]], [y], markerfacecolor="none", **style)
            continue
        ax.errorbar([p[xkey]], [y], yerr=[[y - 100 * p["low"]], [100 * p["high"] - y]], capsize=3,
                    elinewidth=1, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{label}, top-1 % (axis from 0)")
    ax.set_title(f"{protocol}: {label}, 95% bootstrap CI over test videos", fontsize=10)
    ax.grid(alpha=0.3)
    method_legend = ax.legend(
        handles=[Line2D([], [], marker=markers[m], color="0.3", linestyle="none", label=m) for m in methods],
        title="method", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.add_artist(method_legend)
    ax.legend(handles=[Line2D([], [], marker="s", color=colours[d], linestyle="none", label=d) for d in datasets],
              title="dataset", fontsize=7, title_fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    notes = []
    if any(dodges):
        notes.append(f"markers at the same x are spread sideways by {_DODGE_PT:g} pt steps to stay visible")
    if without_ci:
        notes.append("hollow marker: no per-video predictions, so no CI")
    if missing:
        notes.append(f"{missing} point(s) left out: their records hold no {xkey.replace('gmacs', 'GMACs')} figure")
    if notes:
        text = "; ".join(notes)
        fig.supxlabel(text[0].upper() + text[1:] + ".", fontsize=7)
    return fig


def write_plots(protocol: str, label: str, points: list[dict], results_dir: Path) -> list[Path]:
    """Accuracy vs GMACs and vs trainable parameters (``plot_figure``), as PNG files."""
    if not points:
        return []
    paths = []
    for xkey, suffix in (("gmacs", _PLOT_SUFFIXES[0]), ("trainable", _PLOT_SUFFIXES[1])):
        fig = plot_figure(protocol, label, points, xkey)
        path = results_dir / "plots" / f"{protocol}_{suffix}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        paths.append(path)
    return paths


# ============================================================================================ sample size


def _compared_evaluations(protocol: str, rec: dict):
    """(row, column, evaluation) for each evaluation of ``rec`` that the protocol's tests compare."""
    if protocol == "base2novel":
        for name, column in (("base", "B"), ("novel", "N")):
            ev = next((e for e in rec["evaluations"] if e.get("name") == name), None)
            if ev is not None:
                yield rec["dataset"], column, ev
    elif protocol == "zero_shot":
        for ev in rec["evaluations"]:
            yield rec["dataset"], f"→ {zs_target(ev)[0]}", ev
    elif protocol == "few_shot":
        ev = next((e for e in rec["evaluations"] if e.get("name") == "test"), None)
        if ev is None and len(rec["evaluations"]) == 1:
            ev = rec["evaluations"][0]
        if ev is not None:
            yield rec["dataset"], f"K={(rec.get('unit') or {}).get('shots')}", ev


@lru_cache(maxsize=None)
def _mdd(n: int, base: float) -> float | None:
    return stats.min_detectable_difference(n, base)


@lru_cache(maxsize=None)
def _n_for_10(base: float) -> int | None:
    return stats.n_for_difference(DETECT_EXAMPLE, base) if base + DETECT_EXAMPLE <= 1 else None


def sample_sizes(by_protocol: dict[str, list[dict]]) -> list[dict]:
    """Per compared (protocol, row, column): test videos per evaluation, evaluations pooled per test, the median
    measured accuracy, and the exact-McNemar minimum detectable difference there (harness.reports.stats, 80 % power)."""
    out = []
    for protocol in PROTOCOLS:
        groups: dict = defaultdict(lambda: defaultdict(list))  # (row, column) → method → [Outcome]
        for rec in by_protocol.get(protocol, []):
            for row, column, ev in _compared_evaluations(protocol, rec):
                groups[(row, column)][rec["method"]].append(outcome(ev, rec["_path"]))
        for (row, column) in sorted(groups, key=lambda k: (k[0], natural_key(k[1]))):
            by_method = groups[(row, column)]
            sizes = sorted({o.n for outs in by_method.values() for o in outs})
            units = min(len(outs) for outs in by_method.values())
            base = float(np.median([np.mean([o.acc for o in outs]) for outs in by_method.values()]))
            n = sizes[0]  # the smallest list: the conservative figure
            out.append({"protocol": protocol, "row": row, "column": column, "sizes": sizes, "units": units,
                        "methods": len(by_method), "base": base, "mdd_one": _mdd(n, base) if n else None,
                        "mdd_pooled": _mdd(n * units, base) if n else None, "n_for_10": _n_for_10(base)})
    return out


def _power_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    pp = lambda d: f"> {100:.0f}" if d is None else f"{100 * d:.1f}"  # noqa: E731
    lines = ["## Sample size and minimum detectable difference", "",
             f"What the tables' accuracy tests can detect: exact McNemar, two-sided, α = {ALPHA}, on paired videos, "
             f"at {100 * stats.POWER:.0f} % power (`harness/reports/stats.py`). *Accuracy* is the median over methods "
             "of each method's mean over its evaluations; the minimum detectable difference (MDD) is the "
             "smallest gain over that accuracy the test finds with 80 % power, on the smallest video list. "
             "Assumption: the two methods' errors are independent given their accuracies (discordant rate "
             "pA(1−pB) + pB(1−pA)); methods that fail on the same videos have fewer discordant pairs and a smaller "
             "MDD, so these figures err on the large side. *Pooled* is the test as the tables run it, over all "
             "evaluations per comparison (seeds, splits); seeds evaluated on the same videos are not independent "
             "pairs, so the pooled MDD is optimistic and the one-evaluation MDD is the safe reading. Base-to-"
             "novel HM is compared by paired bootstrap and is not covered here.", "",
             "| table | row | evaluation | test videos per evaluation | evaluations per test | methods "
             "| accuracy (%) | MDD, one evaluation (pp) | MDD, pooled (pp) "
             f"| paired videos for a {100 * DETECT_EXAMPLE:.0f}-point gain |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sizes = str(r["sizes"][0]) if len(r["sizes"]) == 1 else f"{r['sizes'][0]}–{r['sizes'][-1]}"
        need = DASH if r["n_for_10"] is None else f"{r['n_for_10']:,}"
        lines.append(f"| {r['protocol']} | {r['row']} | {r['column']} | {sizes} | {r['units']} | {r['methods']} "
                     f"| {100 * r['base']:.1f} | {pp(r['mdd_one'])} | {pp(r['mdd_pooled'])} | {need} |")
    lines.append("")
    return lines


# ============================================================================================ README + driver


_DESCRIPTIONS = {
    "base2novel": "base-to-novel B / N / HM per method × dataset, seed-averaged, 95% CIs, marks vs the reference",
    "base2novel_seeds": "base-to-novel per seed", "base2novel_tests": "base-to-novel comparisons (Δ, p, Holm)",
    "base2novel_provenance": "base-to-novel provenance (frames, views, input, text, seeds, version, git)",
    "zero_shot": "zero-shot mean ± std over splits per target, marks vs the reference",
    "zero_shot_splits": "zero-shot per split with 95% CIs", "zero_shot_tests": "zero-shot comparisons",
    "zero_shot_provenance": "zero-shot provenance",
    "few_shot": "few-shot top-1 per K, 95% CIs, marks vs the reference", "few_shot_seeds": "few-shot per K and seed",
    "few_shot_tests": "few-shot comparisons", "few_shot_provenance": "few-shot provenance",
    "efficiency": "parameters, GMACs, throughput, step time, memory (measured)",
    "ablations": "EZ-CLIP vs each ablation variant (ezclip-no-*): top-1 and direction with 95% CIs, Δ, Holm marks, "
                 "and what the marks show",
    "controls": "positive / negative control: every method vs frozen clip on time-reversal pairs (train top-1, "
                "test top-1 and direction with 95% CIs, exact McNemar, Holm)",
    "published": "published numbers from methods.md §4 (NOT measured here)"}


def readme(written: list[Path], results_dir: Path, records_dir: Path, counts: dict,
           power_rows: list[dict] | None = None) -> str:
    lines = ["# Results", "",
             "Everything in this folder is generated by `python -m harness tables` from the run records "
             "(`records/`, one JSON file per protocol unit) and is overwritten on every run: do not edit it by "
             "hand. Each table exists as Markdown (`.md`), CSV (`.csv`, tidy, numbers in %) and LaTeX (`.tex`).",
             "",
             f"Read {counts['records']} run record(s); {counts['superseded']} superseded by a newer run of the same "
             f"unit (see the tables' notes); {counts['skipped']} JSON file(s) that are not records skipped; "
             f"{counts['unknown']} record(s) of unknown protocols left out of the protocol tables.", "",
             "| file | content |", "|---|---|"]
    entries = {}
    for path in written:
        rel = path.relative_to(results_dir).as_posix()
        if rel.endswith(".png"):
            entries[f"`{rel}`"] = ("accuracy vs compute / trainable parameters, 95% CI error bars, axes from 0 "
                                   "(parameters: symmetric log scale)")
        else:
            stem = rel.rsplit(".", 1)[0]
            entries[f"`{stem}.md` / `.csv` / `.tex`"] = _DESCRIPTIONS.get(stem, "")
    lines += [f"| {name} | {entries[name]} |" for name in sorted(entries)]
    lines.append("")
    lines += _power_lines(power_rows or [])
    sweep = records_dir / "SWEEP_COMMAND"
    if sweep.is_file():
        lines += ["The records were produced by this sweep (verbatim from `records/SWEEP_COMMAND`):", "", "```",
                  sweep.read_text(encoding="utf-8").rstrip("\n"), "```"]
    else:
        lines.append("No `records/SWEEP_COMMAND` file was found, so the command that produced the records is not "
                     "recorded here (each record holds its own config).")
    return "\n".join(lines) + "\n"


def _remove_stale(results_dir: Path, keep: set[Path]) -> None:
    """Delete files an earlier run generated that this run no longer produces (only our own file names)."""
    ours = {results_dir / f"{stem}.{ext}" for stem in _GENERATED_STEMS for ext in ("md", "csv", "tex")}
    ours |= {results_dir / "plots" / f"{p}_{s}.png" for p in PROTOCOLS for s in _PLOT_SUFFIXES}
    for path in sorted(ours - keep):
        if path.is_file():
            path.unlink()


def check_reference(reference: str | None, methods: set[str]) -> str:
    """The reference method to mark against. One the user named must have records (else a HarnessError listing
    the methods that do); the default only warns, since a first run of another method has no ezclip records."""
    if reference is None:
        if methods and DEFAULT_REFERENCE not in methods:
            log.warning("reference method %r has no records; tables carry no significance marks (pass "
                        "--reference with one of: %s)", DEFAULT_REFERENCE, ", ".join(sorted(methods)))
        return DEFAULT_REFERENCE
    if reference not in methods:
        present = ", ".join(sorted(methods)) or "none"
        raise HarnessError(f"reference method {reference!r} has no records{closest(reference, methods)}; methods "
                           f"in the records: {present}; pass one of them with --reference")
    return reference


def build_tables(records_dir: Path, results_dir: Path, reference: str | None = None) -> list[Path]:
    """Regenerate ``results_dir`` from the records under ``records_dir``; return the written paths (sorted).

    ``reference``: the method the marks compare against; None = ``DEFAULT_REFERENCE`` (see ``check_reference``).
    """
    records_dir, results_dir = Path(records_dir), Path(results_dir)
    raw, skipped = load_records(records_dir)
    kept, superseded = deduplicate(raw)
    reference = check_reference(reference, {r["method"] for r in kept})
    by_protocol_all = group_by(kept, protocol_name)
    unknown = sorted(p for p in by_protocol_all if p not in PROTOCOLS)
    if unknown:
        log.warning("records of unknown protocol(s) %s left out of the protocol tables", ", ".join(unknown))
    # EZ-CLIP's ablation variants go to the ablation table (their own Holm family), not the methods' tables,
    # unless the user compares against one of them
    by_protocol = {p: [r for r in recs if not is_variant(r["method"]) or r["method"] == reference]
                   for p, recs in by_protocol_all.items()}

    tables: list[Table] = []
    plots: list[tuple[str, str, list[dict]]] = []
    builders = {"base2novel": (build_base2novel, "HM"), "zero_shot": (build_zero_shot, "mean over targets' splits"),
                "few_shot": (build_few_shot, "mean over K")}

    def superseded_notes(keep) -> list[str]:
        return [f"Superseded by a newer run of the same unit (newest created_utc kept): {old['run_id']} "
                f"({old.get('created_utc')}) → {new['run_id']} ({new.get('created_utc')})."
                for old, new in superseded if keep(new)]

    for protocol in PROTOCOLS:
        recs = by_protocol.get(protocol)
        if not recs:
            continue
        left_out = sorted({r["method"] for r in by_protocol_all[protocol]} - {r["method"] for r in recs})
        notes = superseded_notes(lambda new: protocol_name(new) == protocol and new["method"] not in left_out)
        if left_out:
            notes.append(f"EZ-CLIP's ablation variants ({', '.join(left_out)}) are compared with full ezclip in "
                         "the ablations table, not here.")
        built, points = builders[protocol][0](recs, reference, notes)
        tables += built
        plots.append((protocol, builders[protocol][1], plot_points(points, recs)))
    in_ablations = lambda new: new["method"] == ABLATION_FULL or is_variant(new["method"])  # noqa: E731
    ablations = build_ablations({p: by_protocol_all[p] for p in PROTOCOLS if p in by_protocol_all},
                                superseded_notes(in_ablations))
    if ablations is not None:
        tables.append(ablations)
    controls = build_controls(by_protocol_all.get("few_shot", []), is_variant)
    if controls is not None:
        tables.append(controls)
    if kept:
        tables.append(build_efficiency(kept))
    tables.append(build_published())

    results_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in tables:
        for ext, text in (("md", table.markdown()), ("csv", table.csv()), ("tex", table.latex())):
            path = results_dir / f"{table.stem}.{ext}"
            _write(path, text)
            written.append(path)
    for protocol, label, points in plots:
        written += write_plots(protocol, label, points, results_dir)
    counts = {"records": len(raw), "superseded": len(superseded), "skipped": len(skipped),
              "unknown": sum(len(by_protocol[p]) for p in unknown)}
    path = results_dir / "README.md"
    _write(path, readme(written, results_dir, records_dir, counts,
                        sample_sizes({p: by_protocol[p] for p in PROTOCOLS if p in by_protocol})))
    written.append(path)
    _remove_stale(results_dir, set(written))
    return sorted(written)


def _write(path: Path, text: str) -> None:
    """Write atomically so a crash never leaves a half table behind."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# ============================================================================================ CLI


def add_parser(subparsers):
    """``python -m harness tables [--records DIR] [--results DIR] [--reference METHOD]``."""
    parser = subparsers.add_parser(
        "tables", help="regenerate results/ (Markdown, CSV, LaTeX, PNG) from the run records",
        description="Rebuild every table and plot in the results folder from the run records only. "
                    "The output is identical on repeated runs.")
    parser.add_argument("--records", type=Path, default=None,
                        help="records folder (default: $HARNESS_RECORDS or <repo>/records)")
    parser.add_argument("--results", type=Path, default=None,
                        help="output folder (default: $HARNESS_RESULTS or <repo>/results)")
    parser.add_argument("--reference", default=None,
                        help=f"method the significance marks compare against (default: {DEFAULT_REFERENCE}); "
                             "a method without records is an error")
    parser.set_defaults(func=handler)
    return parser


def handler(args) -> int:
    from ..paths import records_dir, results_dir

    out = Path(args.results) if args.results else results_dir()
    paths = build_tables(Path(args.records) if args.records else records_dir(), out, args.reference)
    print(f"wrote {len(paths)} files to {out}")
    return 0
