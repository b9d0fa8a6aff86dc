"""The positive and the negative control: on few-shot datasets whose classes come in time-reversal pairs,
every method against frozen ``clip`` (which averages frames and cannot know the direction of time).

Why a table of its own: a benchmark is worth what its comparisons can detect. The methods that model time
should beat ``clip`` there (the positive control: a difference known to be there), while the frame-averaging
ones cannot beat chance on direction-within-pair (the negative control: none can be there). Each row shows what
the method learned on its own training list (train top-1, test views), its test top-1 and direction with 95 %
CIs, and the exact McNemar test against ``clip`` on the same videos, Holm-adjusted over the methods of the
column. Values and tests come from the functions the protocol tables use (harness.reports.outcomes, .comparisons).
"""
from __future__ import annotations

from .comparisons import apply_holm, unit_comparison
from .few_shot import few_shot_data
from .outcomes import direction_mean, has_direction, seed_mean, sort_units
from .render import DASH, MARK, Table, csv_num, csv_p, fmt_p, pct_ci
from .training_fit import train_top1

BASELINE = "clip"
CHANCE_MULTIPLE = 3  # "reaches ≥ 3× chance": far enough above chance that knowing the pair alone cannot explain it


def _chance(records: list[dict]) -> dict:
    """dataset → 1 / number of classes of its test evaluation."""
    out = {}
    for rec in records:
        for ev in rec["evaluations"]:
            if ev.get("num_classes"):
                out[rec["dataset"]] = 1.0 / int(ev["num_classes"])
    return out


def build_controls(records: list[dict], is_variant=lambda method: False) -> Table | None:
    """The control table from the kept few-shot records; None without a reversal-pair dataset that ``clip``
    and another method both ran."""
    data = few_shot_data(records)
    train, chance = train_top1(records), _chance(records)
    columns = []
    for dataset in sorted({d for _, d in data}):
        base = data.get((BASELINE, dataset), {})
        for k in sorted(base):
            if not has_direction(base[k].values()):
                continue
            methods = sorted(m for m, d in data if d == dataset and m != BASELINE and not is_variant(m)
                             and k in data[(m, dataset)])
            if methods:
                columns.append((dataset, k, methods))
    if not columns:
        return None
    rows, csv_rows, comparisons = [], [], []
    cells = []
    for dataset, k, methods in columns:
        ref = data[(BASELINE, dataset)][k]
        for method in [BASELINE, *methods]:
            units = data[(method, dataset)][k]
            outs = [units[s] for s in sort_units(units)]
            top1, direction = seed_mean(outs), direction_mean(outs)
            comp = dcomp = None
            if method != BASELINE:
                comp = unit_comparison(method, dataset, f"K={k}", units, ref)
                dcomp = unit_comparison(method, dataset, f"K={k} direction", units, ref, direction=True)
                comparisons += [c for c in (comp,) if c is not None]
            cells.append((dataset, k, method, top1, direction, comp, dcomp))
    apply_holm(comparisons)
    header = ["dataset", "K", "method", "train top-1", "test top-1 [95% CI]", f"≥ {CHANCE_MULTIPLE}× chance",
              f"Δ vs {BASELINE} (pp)", "McNemar p", "Holm p", "direction-in-pair [95% CI]", "direction McNemar p"]
    for dataset, k, method, top1, direction, comp, dcomp in cells:
        fit = train.get(("few_shot", method, dataset, k))
        above = top1[0] >= CHANCE_MULTIPLE * chance.get(dataset, 1.0)
        rows.append([dataset, str(k), method, DASH if fit is None else f"{100 * fit:.1f}", pct_ci(*top1),
                     "yes" if above else "no",
                     DASH if comp is None else f"{100 * comp.diff:+.1f}" + (MARK if comp.significant else ""),
                     DASH if comp is None else fmt_p(comp.p), DASH if comp is None else fmt_p(comp.p_holm),
                     DASH if direction is None else pct_ci(*direction),
                     DASH if dcomp is None else fmt_p(dcomp.p)])
        csv_rows.append([dataset, str(k), method, csv_num(fit), csv_num(top1[0]), csv_num(top1[1]), csv_num(top1[2]),
                         "1" if above else "0", "" if comp is None else csv_num(comp.diff),
                         "" if comp is None else csv_p(comp.p), "" if comp is None else csv_p(comp.p_holm),
                         "" if direction is None else csv_num(direction[0]),
                         "" if direction is None else csv_num(direction[1]),
                         "" if direction is None else csv_num(direction[2]), "" if dcomp is None else csv_p(dcomp.p)])
    notes = [f"Rows: every method against frozen `{BASELINE}` (frame average, no notion of time) on the same test "
             "videos of few-shot datasets whose classes come in time-reversal pairs; chance = 1 / classes.",
             "Positive control: a method that models time reaches ≥ 3× chance and beats clip (Holm p < 0.05, "
             f"marked {MARK}; exact McNemar, Holm over the methods of a dataset and K). Negative control: a method "
             "that averages frames stays near 50 % direction-in-pair, whatever its top-1.",
             "train top-1: the final weights on (a fixed sample of) the training list with test views "
             "(`training.train_top1`); test top-1 and direction: 95 % bootstrap CIs over videos."]
    return Table("controls", "Positive and negative control: every method vs frozen clip on time-reversal pairs",
                 header, rows,
                 ["dataset", "K", "method", "train_top1_pct", "top1_pct", "top1_low", "top1_high", "ge_3x_chance",
                  "delta_vs_clip_pp", "mcnemar_p", "holm_p", "direction_pct", "direction_low", "direction_high",
                  "direction_mcnemar_p"], csv_rows, notes)
