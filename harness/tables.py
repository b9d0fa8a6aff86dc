"""Run records → results/ (Markdown, CSV, LaTeX, PNG): the only way results/ is written.

Why it is built like this:
- Tables come from the records only and are byte-for-byte reproducible: rows are sorted, floats have fixed
  formats, the bootstrap rng is seeded per cell, and no timestamps are written (dates live in the records).
- One record per (method, protocol, dataset, unit); if a unit was re-run, the newest ``created_utc`` wins and a
  footnote names the superseded run.
- Every measured cell carries a 95 % bootstrap CI; comparisons with the reference method use paired tests on
  identical videos, Holm-corrected over the table (../shared/docs/engineering.md §4). Published numbers go to
  their own table only (harness.published).
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from .errors import HarnessError, closest
from .published import published
from .table_protocols import build_base2novel, build_few_shot, build_zero_shot, created_key, group_by, views_text
from .table_render import DASH, Table, join_values

log = logging.getLogger(__name__)

PROTOCOLS = ("base2novel", "zero_shot", "few_shot")
_ALIASES = {"base2novel": "base2novel", "base_to_novel": "base2novel", "b2n": "base2novel",
            "zero_shot": "zero_shot", "zeroshot": "zero_shot", "zero-shot": "zero_shot",
            "few_shot": "few_shot", "fewshot": "few_shot", "few-shot": "few_shot"}
_RECORD_KEYS = ("schema_version", "run_id", "method", "protocol", "dataset", "unit", "evaluations")
_GENERATED_STEMS = {f"{p}{s}" for p in PROTOCOLS for s in ("", "_seeds", "_splits", "_tests", "_provenance")} | {
    "efficiency", "published", "README"}
_PLOT_SUFFIXES = ("vs_gmacs", "vs_trainable_params")


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
        data = dict(data, _path=path.relative_to(records_dir).as_posix())
        records.append(data)
    if skipped:
        log.warning("skipped %d JSON file(s) that are not run records: %s", len(skipped),
                    ", ".join(p.relative_to(records_dir).as_posix() for p in skipped))
    return records, skipped


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
        mems = [t.get("peak_memory_mb") for t in trainings if t.get("peak_memory_mb")]
        out[key] = {
            "total_params": model.get("total_params"), "trainable_params": model.get("trainable_params"),
            "gmacs_per_view": model.get("gmacs_per_view"), "views": n_views, "text_gmacs": model.get("text_gmacs"),
            "throughput": _median(ev.get("throughput_clips_per_s") for r in recs for ev in r["evaluations"]),
            "step_time": _median(t.get("step_time_s") for t in trainings),
            "peak_memory": max(mems) if mems else None,
            "machine": join_values(_machine(r) for r in recs), "records": len(recs)}
    return out


def build_efficiency(records: list[dict]) -> Table:
    header = ["method", "backbone", "frames", "input", "total params", "trainable params", "GMACs/view × views",
              "text GMACs", "throughput (clips/s)", "train step (s)", "peak memory (MB)", "machine", "records"]
    rows, csv_rows = [], []
    for (method, backbone, frames, size, views), e in efficiency_rows(records).items():
        gm = e["gmacs_per_view"]
        rows.append([method, backbone, frames, size, _thousands(e["total_params"]), _thousands(e["trainable_params"]),
                     DASH if gm is None else f"{gm:.2f} × {e['views']} = {gm * e['views']:.2f}",
                     _num(e["text_gmacs"], ".2f"), _num(e["throughput"], ".1f"), _num(e["step_time"], ".3f"),
                     _num(e["peak_memory"], ".0f"), e["machine"], str(e["records"])])
        csv_rows.append([method, backbone, frames, size, _int(e["total_params"]), _int(e["trainable_params"]),
                         "" if gm is None else f"{gm:.4f}", views, str(e["views"]),
                         "" if e["text_gmacs"] is None else f"{e['text_gmacs']:.4f}",
                         "" if e["throughput"] is None else f"{e['throughput']:.3f}",
                         "" if e["step_time"] is None else f"{e['step_time']:.4f}",
                         "" if e["peak_memory"] is None else f"{e['peak_memory']:.1f}", e["machine"],
                         str(e["records"])])
    notes = ["GMACs are multiply-accumulates (papers' \"GFLOPs\") of the visual tower per view (clips × crops "
             "views per video); text GMACs are for encoding the class prompts once (engineering.md §3).",
             "Throughput: median over the evaluations of the rows' records; train step: median seconds per "
             "optimizer step; peak memory: largest value over the records. Only comparable on the same machine "
             "(column machine).", "Numbers measured here; published efficiency figures are in methods.md §1.5."]
    return Table("efficiency", "Efficiency: model size, compute and speed (measured)", header, rows,
                 ["method", "backbone", "frames", "input_size", "total_params", "trainable_params",
                  "gmacs_per_view", "views", "n_views", "text_gmacs", "throughput_clips_per_s", "step_time_s",
                  "peak_memory_mb", "machine", "records"], csv_rows, notes)


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
    notes = ["PUBLISHED, NOT MEASURED HERE: copied from ../shared/docs/methods.md §4.1–4.3 (harness/published.py); "
             "never mixed into the measured tables.",
             "zero_shot: mean (± std) over the 3 target splits, trained on K-400; base2novel: B / N / HM, "
             "seed-averaged; few_shot: K = 2 / 4 / 8 / 16. ViT-B/16. Input — where the source does not state it."]
    return Table("published", "Published numbers (published, not measured here), top-1 %", header, rows,
                 ["protocol", "method", "dataset", "top1", "std", "base", "novel", "hm", "k2", "k4", "k8", "k16",
                  "frames", "size", "source", "note"], csv_rows, notes, origin="harness/published.py")


# ============================================================================================ plots


def _plot_points(points: list[dict], records: list[dict]) -> list[dict]:
    """Attach per-(method, dataset) model figures (GMACs × views, trainable params, throughput) to plot points."""
    eff = {}
    for rec in records:
        eff.setdefault((rec["method"], rec["dataset"]), []).append(rec)
    out = []
    for p in points:
        recs = eff.get((p["method"], p["dataset"])) or [r for r in records if r["method"] == p["method"]]
        rec = sorted(recs, key=created_key)[-1]
        model, views = rec.get("model") or {}, rec.get("views") or {}
        n_views = int(views.get("clips", 1) or 1) * int(views.get("crops", 1) or 1)
        out.append(dict(p, gmacs=float(model.get("gmacs_per_view") or 0) * n_views,
                        trainable=float(model.get("trainable_params") or 0),
                        throughput=_median(ev.get("throughput_clips_per_s") for r in recs for ev in r["evaluations"])
                        or 0.0))
    return out


def write_plots(protocol: str, label: str, points: list[dict], results_dir: Path) -> list[Path]:
    """Accuracy vs GMACs and vs trainable parameters; bubble area ∝ throughput."""
    if not points:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({p["dataset"] for p in points})
    colours = {d: plt.get_cmap("tab10")(i % 10) for i, d in enumerate(datasets)}
    top = max(p["throughput"] for p in points) or 1.0
    paths = []
    for xkey, xlabel, suffix in (("gmacs", "visual GMACs per video (per view × views)", _PLOT_SUFFIXES[0]),
                                 ("trainable", "trainable parameters", _PLOT_SUFFIXES[1])):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for d in datasets:
            pts = [p for p in points if p["dataset"] == d]
            ax.scatter([p[xkey] for p in pts], [100 * p["value"] for p in pts],
                       s=[40 + 400 * p["throughput"] / top for p in pts], color=colours[d], alpha=0.6, label=d)
            for p in pts:
                ax.annotate(p["method"], (p[xkey], 100 * p["value"]), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{label} (top-1 %)")
        ax.set_title(f"{protocol}: {label} (bubble area ∝ throughput)")
        ax.legend(fontsize=7, title="dataset", title_fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = results_dir / "plots" / f"{protocol}_{suffix}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths


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
    "published": "published numbers from methods.md §4 (NOT measured here)"}


def readme(written: list[Path], results_dir: Path, records_dir: Path, counts: dict) -> str:
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
            entries[f"`{rel}`"] = "accuracy vs compute / trainable parameters (bubble area ∝ throughput)"
        else:
            stem = rel.rsplit(".", 1)[0]
            entries[f"`{stem}.md` / `.csv` / `.tex`"] = _DESCRIPTIONS.get(stem, "")
    lines += [f"| {name} | {entries[name]} |" for name in sorted(entries)]
    sweep = records_dir / "SWEEP_COMMAND"
    lines.append("")
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


def build_tables(records_dir: Path, results_dir: Path, reference: str = "ezclip") -> list[Path]:
    """Regenerate ``results_dir`` from the records under ``records_dir``; return the written paths (sorted)."""
    records_dir, results_dir = Path(records_dir), Path(results_dir)
    raw, skipped = load_records(records_dir)
    kept, superseded = deduplicate(raw)
    methods = {r["method"] for r in kept}
    if kept and reference not in methods:
        log.warning("reference method %r has no records%s; tables carry no significance marks", reference,
                    closest(reference, methods))
    by_protocol = group_by(kept, protocol_name)
    unknown = sorted(p for p in by_protocol if p not in PROTOCOLS)
    if unknown:
        log.warning("records of unknown protocol(s) %s left out of the protocol tables", ", ".join(unknown))

    tables: list[Table] = []
    plots: list[tuple[str, str, list[dict]]] = []
    builders = {"base2novel": (build_base2novel, "HM"), "zero_shot": (build_zero_shot, "mean over targets' splits"),
                "few_shot": (build_few_shot, "mean over K")}
    for protocol in PROTOCOLS:
        recs = by_protocol.get(protocol)
        if not recs:
            continue
        notes = [f"Superseded by a newer run of the same unit (newest created_utc kept): {old['run_id']} "
                 f"({old.get('created_utc')}) → {new['run_id']} ({new.get('created_utc')})."
                 for old, new in superseded if protocol_name(new) == protocol]
        built, points = builders[protocol][0](recs, reference, notes)
        tables += built
        plots.append((protocol, builders[protocol][1], _plot_points(points, recs)))
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
    _write(path, readme(written, results_dir, records_dir, counts))
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
    parser.add_argument("--reference", default="ezclip",
                        help="method the significance marks compare against (default: ezclip)")
    parser.set_defaults(func=handler)
    return parser


def handler(args) -> int:
    from .paths import records_dir, results_dir

    out = Path(args.results) if args.results else results_dir()
    paths = build_tables(Path(args.records) if args.records else records_dir(), out, args.reference)
    print(f"wrote {len(paths)} files to {out}")
    return 0
