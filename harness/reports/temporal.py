"""Temporal reliance: top-1 of every analysed run with its frames in order, reversed, shuffled and one frame
repeated (diagnostic records of ``analyze temporal``), with 95 % CIs, the paired Δ against in-order and the exact
McNemar test on the same videos (Holm over the table).

Why: a method whose accuracy does not move when time is reversed or shuffled is not using frame order, whatever
its architecture claims; one frame repeated shows how much appearance alone gives. Frozen ``clip`` (a mean over
frames) must show exactly no change under reversal and shuffling — the table's own negative control.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import stats
from .outcomes import direction_mean, outcome, seed_mean
from .render import DASH, MARK, RESAMPLES, Table, csv_num, csv_p, fmt_p, pct_ci, pp_ci
from ..diagnostics.temporal_views import FRAME_VIEWS


def temporal_cells(diagnostics: list[dict]) -> dict:
    """(method, dataset, evaluation) → view → [Outcome per seed], seeds in the same order for every view."""
    cells: dict = defaultdict(lambda: defaultdict(list))
    for diag in sorted(diagnostics, key=lambda d: (d["method"], d["dataset"], d["unit"].get("seed") or 0)):
        for ev in diag["evaluations"]:
            where = f"{diag['_path']} evaluation {ev['name']}@{ev['view']}"
            cells[(diag["method"], diag["dataset"], ev["name"])][ev["view"]].append(outcome(ev, where))
    return cells


def _pooled(outs):
    return np.concatenate([o.correct for o in outs])


def build_temporal(diagnostics: list[dict]) -> Table | None:
    """The ``temporal`` table; None without temporal diagnostic records."""
    if not diagnostics:
        return None
    cells = temporal_cells(diagnostics)
    frames = {}
    for diag in diagnostics:
        for ev in diag["evaluations"]:
            frames[ev["view"]] = ",".join(map(str, ev.get("frame_indices") or []))
    entries, pvalues = [], []
    for key in sorted(cells):
        views = cells[key]
        ref = views.get("in_order")
        for view in [v for v in FRAME_VIEWS if v in views] + sorted(set(views) - set(FRAME_VIEWS)):
            outs = views[view]
            comp = None
            if view != "in_order" and ref and len(ref) == len(outs) and all(
                    a.keys is not None and a.keys == b.keys for a, b in zip(outs, ref)):
                boot = stats.paired_bootstrap_grouped([o.correct for o in outs], [o.correct for o in ref], RESAMPLES,
                                                      0.95, 0, same_videos=len({o.keys for o in outs}) == 1)
                test = stats.mcnemar_exact(_pooled(outs), _pooled(ref))
                comp = dict(boot, **test)
                pvalues.append(test["p"])
            entries.append((key, view, outs, comp))
    adjusted = iter(stats.holm(pvalues)) if pvalues else iter(())
    header = ["method", "dataset", "evaluation", "view", "frames fed", "seeds", "top-1 [95% CI]",
              "Δ vs in order (pp) [95% CI]", "changed / right→wrong / wrong→right", "McNemar p", "Holm p",
              "direction-in-pair [95% CI]"]
    rows, csv_rows = [], []
    for (method, dataset, name), view, outs, comp in entries:
        top1 = seed_mean(outs)
        direction = direction_mean(outs)
        holm_p = next(adjusted) if comp is not None else None
        if comp is not None:
            comp["holm"] = holm_p
        mark = MARK if holm_p is not None and holm_p < 0.05 else ""
        flips = DASH if comp is None else f"{comp['n01'] + comp['n10']} / {comp['n10']} / {comp['n01']}"
        rows.append([method, dataset, name, view.replace("_", " "), frames.get(view, DASH), str(len(outs)),
                     pct_ci(*top1), DASH if comp is None else pp_ci(comp["diff"], comp["low"], comp["high"]) + mark,
                     flips, DASH if comp is None else fmt_p(comp["p"]), DASH if comp is None else fmt_p(holm_p),
                     DASH if direction is None else pct_ci(*direction)])
        csv_rows.append([method, dataset, name, view, frames.get(view, ""), str(len(outs)), str(sum(o.n for o in outs)),
                         csv_num(top1[0]), csv_num(top1[1]), csv_num(top1[2]),
                         *(["", "", ""] if comp is None else [csv_num(comp["diff"]), csv_num(comp["low"]),
                                                              csv_num(comp["high"])]),
                         "" if comp is None else str(comp["n01"]), "" if comp is None else str(comp["n10"]),
                         "" if comp is None else csv_p(comp["p"]), "" if comp is None else csv_p(holm_p),
                         *(["", "", ""] if direction is None else [csv_num(v) for v in direction])])
    notes = ["Each analysed run is evaluated again on its own test lists with the frames it samples fed in order, "
             "reversed, shuffled (one fixed permutation, numpy RandomState(0), the same for every video) and with "
             "the middle frame repeated T times (`python -m harness analyze temporal`); 'frames fed' lists the "
             "sampled-frame positions in the order the model sees them.",
             "Δ = view − in order on the same videos: paired bootstrap CI over videos (seeds averaged); McNemar: exact "
             "two-sided on the (seed, video) pairs pooled over seeds (A = the view); changed = discordant videos, "
             f"right→wrong = in order right, view wrong. Holm over every view row of this table; {MARK} = Holm p < 0.05.",
             "A frame-averaging model (frozen clip) is order-invariant: reversed and shuffled must show 0 changed "
             "predictions (tests/test_diagnostics.py checks this exactly on the predictions).",
             "Diagnostic records: records/diagnostics/temporal/ (one per analysed run; `source.run_id` names it)."]
    return Table("temporal", "Temporal reliance: top-1 with frames in order, reversed, shuffled, one frame repeated",
                 header, rows,
                 ["method", "dataset", "evaluation", "view", "frames_fed", "seeds", "n_pairs", "top1_pct", "top1_low",
                  "top1_high", "delta_pp", "delta_low", "delta_high", "n01_view_right", "n10_in_order_right",
                  "mcnemar_p", "holm_p", "direction_pct", "direction_low", "direction_high"], csv_rows, notes,
                 origin="the diagnostic records (records/diagnostics/temporal)")


def temporal_points(diagnostics: list[dict]) -> list[dict]:
    """Δ vs in order per (method, dataset, evaluation, view) with its CI, for the plot (same numbers as the table)."""
    points = []
    for key, views in sorted(temporal_cells(diagnostics).items()):
        ref = views.get("in_order")
        for view in FRAME_VIEWS[1:]:
            outs = views.get(view)
            if not outs or not ref or len(ref) != len(outs) or not all(
                    a.keys is not None and a.keys == b.keys for a, b in zip(outs, ref)):
                continue
            boot = stats.paired_bootstrap_grouped([o.correct for o in outs], [o.correct for o in ref], RESAMPLES,
                                                  0.95, 0, same_videos=len({o.keys for o in outs}) == 1)
            points.append(dict(method=key[0], dataset=key[1], evaluation=key[2], view=view, **boot))
    return points


def write_temporal_plot(diagnostics: list[dict], results_dir):
    """Δ top-1 (view − in order, percentage points) per method, one panel per (dataset, evaluation), one marker and
    colour per view, 95 % paired-bootstrap CI error bars, a zero line; method names on the y axis."""
    from pathlib import Path

    import matplotlib as mpl
    from matplotlib.figure import Figure

    points = temporal_points(diagnostics)
    if not points:
        return []
    panels = sorted({(p["dataset"], p["evaluation"]) for p in points})
    methods = sorted({p["method"] for p in points}, reverse=True)
    views = [v for v in FRAME_VIEWS[1:] if any(p["view"] == v for p in points)]
    colours = {v: mpl.colormaps["tab10"](i) for i, v in enumerate(views)}
    markers = dict(zip(views, "o^s"))
    span = max(max(abs(p["low"]), abs(p["high"])) for p in points) * 100
    limit = max(2.0, 1.1 * span)
    fig = Figure(figsize=(4.2 * len(panels) + 1.8, 1.8 + 0.42 * len(methods)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (dataset, evaluation) in zip(axes, panels):
        ax.axvline(0, color="0.4", linewidth=0.8)
        for vi, view in enumerate(views):
            mine = [p for p in points if (p["dataset"], p["evaluation"], p["view"]) == (dataset, evaluation, view)]
            ys = [methods.index(p["method"]) + (vi - (len(views) - 1) / 2) * 0.22 for p in mine]
            xs = [100 * p["diff"] for p in mine]
            errs = [[100 * (p["diff"] - p["low"]) for p in mine], [100 * (p["high"] - p["diff"]) for p in mine]]
            ax.errorbar(xs, ys, xerr=errs, fmt=markers[view], color=colours[view], capsize=2, elinewidth=0.9,
                        markersize=4, label=view.replace("_", " "))
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-0.6, len(methods) - 0.4)
        ax.set_xlabel("Δ top-1 vs frames in order (percentage points)", fontsize=8)
        ax.set_title(f"{dataset} / {evaluation}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="frames fed", fontsize=8, title_fontsize=8, loc="outside lower center",
               ncols=len(views))
    fig.suptitle("Temporal reliance: top-1 change when frames are reversed, shuffled or one frame repeated "
                 "(95% paired bootstrap CI)", fontsize=10)
    path = Path(results_dir) / "plots" / "temporal.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return [path]
