"""EZ-CLIP's ablations: full ``ezclip`` against each ``ezclip-no-*`` variant, in every evaluation where both ran.

Why a table of its own: the variants ask which of EZ-CLIP's parts carry its accuracy, not how methods compare, so
they are one Holm family of their own (inside the protocol tables they would dilute the methods' marks, and one
comparison could be marked in one table and not in another). Values, CIs and tests come from the functions the
protocol tables use (harness.reports.outcomes, harness.reports.comparisons), so a cell here is the cell there.
The note under the table is generated from the marks and claims no more than they show: an unmarked Δ is "not
shown", never "no effect".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .base2novel import b2n_comparisons, b2n_data, b2n_summary
from .comparisons import Comparison, apply_holm, unit_comparison
from .few_shot import few_shot_data
from .outcomes import direction_mean, has_direction, nested_mean, seed_mean, sort_units
from .zero_shot import zs_data
from .render import ALPHA, DASH, MARK, RESAMPLES, Table, csv_num, csv_p, pct_ci, pp_ci

FULL = "ezclip"
VARIANT_PREFIX = "ezclip-no-"  # methods/configs/ezclip-no-*.yaml (variant_of: ezclip)
MOTION_VARIANT = "ezclip-no-motion-loss"
PROTOCOL_LABELS = {"few_shot": "few-shot", "base2novel": "base-to-novel", "zero_shot": "zero-shot"}
QUESTION = ("Question: which of EZ-CLIP's parts carry its accuracy, and in particular: does the motion loss help "
            "where motion decides the class (datasets whose classes come in time-reversal pairs: their records "
            "carry metrics.direction_accuracy) and not where appearance does (datasets without such pairs)?")


def is_variant(method: str) -> bool:
    return method.startswith(VARIANT_PREFIX)


@dataclass
class Column:
    """One evaluation column: (value, CI low, CI high) per method and each variant's test against full ezclip."""

    protocol: str
    dataset: str
    label: str
    motion: bool  # the dataset's classes come in reversal pairs (records carry direction_accuracy)
    values: dict
    comparisons: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{PROTOCOL_LABELS.get(self.protocol, self.protocol)} {self.dataset} {self.label}"


def _few_shot_columns(records: list[dict]) -> list[Column]:
    data = few_shot_data(records)
    out = []
    for dataset in sorted({d for _, d in data}):
        full = data.get((FULL, dataset), {})
        variants = sorted(m for m, d in data if d == dataset and is_variant(m))
        for k in sorted(full):
            present = [m for m in variants if k in data[(m, dataset)]]
            if not present:
                continue
            units = {m: data[(m, dataset)][k] for m in [FULL, *present]}
            ordered = {m: [u[s] for s in sort_units(u)] for m, u in units.items()}
            motion = has_direction(o for outs in ordered.values() for o in outs)
            out.append(Column("few_shot", dataset, f"K={k}", motion, {m: seed_mean(o) for m, o in ordered.items()},
                              {m: unit_comparison(m, dataset, f"K={k}", units[m], units[FULL]) for m in present}))
            if motion:
                out.append(Column("few_shot", dataset, f"K={k} direction", True,
                                  {m: direction_mean(o) for m, o in ordered.items()},
                                  {m: unit_comparison(m, dataset, f"K={k} direction", units[m], units[FULL], True)
                                   for m in present}))
    return out


def _b2n_columns(records: list[dict]) -> list[Column]:
    data = b2n_data(records)
    out = []
    for dataset in sorted({d for _, d in data}):
        present = sorted(m for m, d in data if d == dataset and is_variant(m))
        if (FULL, dataset) not in data or not present:
            continue
        methods = [FULL, *present]
        summary = {m: b2n_summary(data[(m, dataset)]) for m in methods}
        motion = has_direction(o for m in methods for pair in data[(m, dataset)].values() for o in pair)
        comps = {m: {c.column: c for c in b2n_comparisons(m, dataset, data[(m, dataset)], data[(FULL, dataset)],
                                                          motion)} for m in present}
        cols = [("B", "base"), ("N", "novel"), ("HM", "hm")] + ([("B direction", None), ("N direction", None)]
                                                                if motion else [])
        for col, key in cols:
            values = {m: s[col] if key is None else (s[key], s.get(f"{key}_low"), s.get(f"{key}_high"))
                      for m, s in summary.items()}
            out.append(Column("base2novel", dataset, col, motion, values, {m: comps[m].get(col) for m in present}))
    return out


def _zs_columns(records: list[dict]) -> list[Column]:
    data, _ = zs_data(records)
    out = []
    for source in sorted({s for m, s in data if m == FULL}):
        for target in sorted(data[(FULL, source)]):
            present = sorted(m for m, s in data if s == source and is_variant(m) and target in data[(m, s)])
            if not present:
                continue
            units = {m: {(sp, sd): o for sp, by_seed in data[(m, source)][target].items() for sd, o in by_seed.items()}
                     for m in [FULL, *present]}
            nested = {m: [[data[(m, source)][target][sp][sd] for sd in sort_units(data[(m, source)][target][sp])]
                          for sp in sort_units(data[(m, source)][target])] for m in units}
            motion = has_direction(o for u in units.values() for o in u.values())
            row = f"{source} → {target}"
            out.append(Column("zero_shot", row, "mean over splits", motion,
                              {m: nested_mean(n) for m, n in nested.items()},
                              {m: unit_comparison(m, row, "mean over splits", units[m], units[FULL]) for m in present}))
            if motion:
                dirs = {m: [[o.direction for o in inner if o.direction is not None] for inner in n]
                        for m, n in nested.items()}
                out.append(Column("zero_shot", row, "direction", True,
                                  {m: nested_mean([i for i in d if i]) if any(d) else None for m, d in dirs.items()},
                                  {m: unit_comparison(m, row, "direction", units[m], units[FULL], True)
                                   for m in present}))
    return out


def _delta(column: Column, method: str) -> float | None:
    comp, value, ref = column.comparisons.get(method), column.values.get(method), column.values.get(FULL)
    if comp is not None:
        return comp.diff
    return None if value is None or ref is None else value[0] - ref[0]


def _say(column: Column, comp: Comparison, way: bool = True) -> str:
    """A marked comparison in words; ``way`` adds "lower" / "higher" (left out where the sentence says it)."""
    word = (" lower" if comp.diff < 0 else " higher") if way else ""
    return f"{column.name}{word} (Δ {pp_ci(comp.diff, comp.low, comp.high)} pp)"


def _findings(columns: list[Column], variants: list[str], n_tests: int) -> list[str]:
    """What the marks show, per variant, then the motion-loss question; nothing an unmarked Δ cannot carry."""
    marked = {v: [(c, c.comparisons[v]) for c in columns if c.comparisons.get(v) and c.comparisons[v].significant]
              for v in variants}
    tested = {v: sum(1 for c in columns if c.comparisons.get(v)) for v in variants}
    if not any(marked.values()):
        lines = [f"Findings: no variant differs from full EZ-CLIP in any column (no {MARK} after Holm over the "
                 f"{n_tests} comparisons): these records do not show that removing any of the parts changes the "
                 "score. Differences smaller than the detectable size (results/README.md) are not ruled out."]
    else:
        lines = []
        for v in variants:
            if marked[v]:
                lines.append(f"Findings, `{v}`: differs from full EZ-CLIP in {len(marked[v])} of {tested[v]} "
                             f"compared column(s): " + "; ".join(_say(c, comp) for c, comp in marked[v]) + ".")
            else:
                lines.append(f"Findings, `{v}`: no column differs from full EZ-CLIP ({tested[v]} compared).")
    if MOTION_VARIANT in variants:
        lines.append(_motion_answer([(c, c.comparisons[MOTION_VARIANT]) for c in columns
                                     if c.comparisons.get(MOTION_VARIANT)]))
    return lines


def _motion_answer(pairs: list[tuple[Column, Comparison]]) -> str:
    motion = [(c, comp) for c, comp in pairs if c.motion]
    appearance = [(c, comp) for c, comp in pairs if not c.motion]
    where = lambda group: ", ".join(dict.fromkeys(  # noqa: E731
        f"{PROTOCOL_LABELS.get(c.protocol, c.protocol)} {c.dataset}" for c, _ in group))
    if not motion:
        text = (f"Motion loss: `{MOTION_VARIANT}` has no paired evaluation on a dataset whose classes come in "
                "reversal pairs, so these records cannot say whether the motion loss helps where motion decides.")
    else:
        lower = [(c, comp) for c, comp in motion if comp.significant and comp.diff < 0]
        higher = [(c, comp) for c, comp in motion if comp.significant and comp.diff > 0]
        head = f"Motion loss, where motion decides the class ({where(motion)}): removing it"
        if lower and not higher:
            text = (f"{head} lowers " + "; ".join(_say(c, comp, False) for c, comp in lower)
                    + ": the data support that the motion loss helps there.")
        elif higher and not lower:
            text = (f"{head} raises " + "; ".join(_say(c, comp, False) for c, comp in higher)
                    + ": the data show the motion loss costing accuracy there, not helping.")
        elif lower and higher:
            text = (f"{head} lowers " + "; ".join(_say(c, comp, False) for c, comp in lower) + " but raises "
                    + "; ".join(_say(c, comp, False) for c, comp in higher) + ": mixed, no single answer.")
        else:
            text = (f"{head} changes no column beyond chance (no {MARK}): the data do not show that the motion "
                    "loss helps there.")
    if not appearance:
        return text + " No paired evaluation where appearance decides, so the second half of the question is open."
    sig = [(c, comp) for c, comp in appearance if comp.significant]
    if sig:
        return text + f" Where appearance decides ({where(appearance)}), removing it also differs: " + \
            "; ".join(_say(c, comp) for c, comp in sig) + "."
    return text + f" Where appearance decides ({where(appearance)}), no column differs."


def build_ablations(by_protocol: dict[str, list[dict]], notes: list[str] | None = None) -> Table | None:
    """The ablation table from the records of ``ezclip`` and its variants; None without a variant's records."""
    columns: list[Column] = []
    for protocol, build in (("few_shot", _few_shot_columns), ("base2novel", _b2n_columns),
                            ("zero_shot", _zs_columns)):
        recs = [r for r in by_protocol.get(protocol, []) if r["method"] == FULL or is_variant(r["method"])]
        if any(is_variant(r["method"]) for r in recs) and any(r["method"] == FULL for r in recs):
            columns += build(recs)
    if not columns:
        return None
    variants = sorted({m for c in columns for m in c.values if m != FULL})
    comparisons = [c.comparisons[m] for c in columns for m in variants if c.comparisons.get(m)]
    apply_holm(comparisons)

    header = ["method"] + [c.name for c in columns]
    rows, csv_rows = [], []
    for method in [FULL, *variants]:
        row = [method]
        for c in columns:
            value = c.values.get(method)
            if value is None:
                row.append(DASH)
                continue
            comp = c.comparisons.get(method)
            delta = None if method == FULL else _delta(c, method)
            shown = pct_ci(*value)
            if delta is not None:
                shown += f", Δ {100 * delta:+.1f}" + (MARK if comp is not None and comp.significant else "")
            row.append(shown)
            csv_rows.append([method, c.protocol, c.dataset, c.label, csv_num(value[0]), csv_num(value[1]),
                             csv_num(value[2]), csv_num(delta), "" if comp is None else csv_num(comp.low),
                             "" if comp is None else csv_num(comp.high), "" if comp is None else comp.test,
                             "" if comp is None or comp.n01 is None else str(comp.n01),
                             "" if comp is None or comp.n10 is None else str(comp.n10),
                             "" if comp is None else csv_p(comp.p), "" if comp is None else csv_p(comp.p_holm),
                             "" if comp is None else str(comp.significant).lower(),
                             "" if comp is None else str(comp.units)])
        rows.append(row)
    table_notes = [
        QUESTION,
        f"Rows: full `{FULL}` and each ablation variant with records (methods/configs/{VARIANT_PREFIX}*.yaml: "
        f"everything as `{FULL}` except the named part). Columns: every evaluation where `{FULL}` and at least "
        "one variant ran; a variant without it shows " + DASH + ".",
        "Cells: top-1 % [95% percentile bootstrap CI over videos, "
        f"{RESAMPLES:,} resamples, rng seed 0], computed as in the protocol tables (few-shot: mean over seeds; "
        "base-to-novel: seed-averaged B and N, HM of them; zero-shot: mean over the target's splits); "
        f"Δ: variant − full `{FULL}` in percentage points, over the seeds (splits) both ran.",
        (f"{MARK}: differs from full `{FULL}` (Holm-adjusted p < {ALPHA} over the {len(comparisons)} comparisons of "
         "this table), either direction: the sign of Δ says which. Tests: exact McNemar on per-video correctness "
         "(direction columns: on the per-video direction booleans) pooled over the matched seeds/splits on "
         "identical videos; HM: paired bootstrap of ΔHM. Δ's CI, raw and adjusted p: ablations.csv."
         if comparisons else
         f"No marks: full `{FULL}` and the variants share no identical evaluation videos."),
        *([f"direction: direction within reversal pairs: of the videos whose class has its time-reversed partner "
           "in the class set, the % where the true class scores above that partner (chance 50 %; "
           "harness/data/pairs.py)."] if any(c.label.endswith("direction") for c in columns) else []),
        *_findings(columns, variants, len(comparisons)),
        *(notes or [])]
    return Table("ablations", "EZ-CLIP ablations: full EZ-CLIP vs each variant, top-1 % (Δ vs full EZ-CLIP)",
                 header, rows,
                 ["method", "protocol", "dataset", "metric", "value_pct", "ci_low_pct", "ci_high_pct", "delta_pct",
                  "delta_low_pct", "delta_high_pct", "test", "mcnemar_n01", "mcnemar_n10", "p", "p_holm",
                  "significant_vs_ezclip", "units"], csv_rows, table_notes)
