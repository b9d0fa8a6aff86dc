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
