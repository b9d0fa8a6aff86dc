"""The zero-shot tables: per target, mean ± std over its evaluation splits, per split with CIs, tests and
provenance; rows are (method, the source it was trained on)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import stats
from .comparisons import accuracy_comparison, apply_holm, seed_level, significance_notes, tests_table
from ..engine.records import UNTRAINED, zero_shot_source
from .outcomes import created_key, group_by, outcome, plot_point, same_videos, seed_of, sort_units, where_of
from .provenance import provenance_table
from .render import DASH, MARK, RESAMPLES, Table, csv_num, join_values, methods_order, pct, pct_ci


def zs_target(ev: dict) -> tuple[str, str]:
    name = str(ev.get("name", ""))
    target = ev.get("dataset") or (name.split("/", 1)[0] if "/" in name else name)
    split = ev.get("split") or (name.split("/", 1)[1] if "/" in name else name)
    return str(target), str(split)


def zs_data(records: list[dict]) -> tuple[dict, list[str]]:
    """(method, source) → target → split → seed → Outcome (newest record wins on collisions); the collisions."""
    groups = group_by(records, lambda r: (r["method"], zero_shot_source(r)))
    data: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    owner: dict = {}
    collisions = []
    for (method, source), recs in groups.items():
        for rec in sorted(recs, key=created_key):
            for ev in rec["evaluations"]:
                target, split = zs_target(ev)
                key = (method, source, target, split, seed_of(rec))
                if key in owner:
                    collisions.append(f"{owner[key]} → {rec['run_id']} ({target}/{split})")
                owner[key] = rec["run_id"]
                data[(method, source)][target][split][seed_of(rec)] = outcome(ev, where_of(rec, ev.get("name", "")))
    return data, collisions


def build_zero_shot(records: list[dict], reference: str, notes: list[str]) -> tuple[list[Table], list[dict]]:
    """Mean ± std over target splits per target; per-split table with CIs; tests; provenance."""
    groups = group_by(records, lambda r: (r["method"], zero_shot_source(r)))
    data, collisions = zs_data(records)
    methods = methods_order([m for m, _ in data], reference)
    rowkeys = sorted(data, key=lambda k: (k[0] != reference, k[0], k[1]))
    targets = sorted({t for v in data.values() for t in v})

    split_value = {}  # (method, source, target, split) → (mean over seeds, low, high, n, seeds)
    for (method, source), by_target in data.items():
        for target, by_split in by_target.items():
            for split, by_seed in by_split.items():
                outs = [by_seed[s] for s in sort_units(by_seed)]
                if all(o.keys is not None for o in outs):
                    est, low, high = stats.bootstrap_mean_ci([o.correct for o in outs], RESAMPLES, 0.95, 0,
                                                             same_videos=same_videos(outs))
                else:
                    est, low, high = float(np.mean([o.acc for o in outs])), None, None
                split_value[(method, source, target, split)] = (est, low, high, outs[0].n, sort_units(by_seed))

    def target_summary(method, source, target):
        splits = sort_units(data[(method, source)].get(target, {}))
        vals = [split_value[(method, source, target, s)][0] for s in splits]
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        return (float(np.mean(vals)) if vals else None), std, splits

    ref_rows = [k for k in rowkeys if k[0] == reference]
    comparisons = []
    for method, source in rowkeys:
        # the reference trained on the same source; else its only row (the videos are what must match)
        ref_key = (reference, source) if (reference, source) in data else \
            (ref_rows[0] if len(ref_rows) == 1 else None)
        if method == reference or ref_key is None:
            continue
        for target in targets:
            mine, ref = data[(method, source)].get(target, {}), data[ref_key].get(target, {})
            units = [(sp, sd) for sp in sort_units(set(mine) & set(ref))
                     for sd in sort_units(set(mine[sp]) & set(ref[sp]))]
            comp = accuracy_comparison(method, source, target,
                                        [(mine[sp][sd], ref[sp][sd]) for sp, sd in units])
            if comp:
                common = sort_units(set(mine) & set(ref))
                comp.seed = seed_level([split_value[(method, source, target, s)][0] for s in common],
                                        [split_value[(*ref_key, target, s)][0] for s in common])
                comparisons.append(comp)
    apply_holm(comparisons)
    marks = {(c.method, c.row, c.column): c.significant for c in comparisons}

    header = ["method", "source"] + targets
    rows, csv_rows, points = [], [], []
    for method, source in rowkeys:
        row = [method, source]
        for target in targets:
            mean, std, splits = target_summary(method, source, target)
            if mean is None:
                row.append(DASH)
                continue
            mark = MARK if marks.get((method, source, target)) else ""
            row.append(f"{pct(mean)} ± {pct(std)}{mark}" if std is not None else f"{pct(mean)}{mark}")
            csv_rows.append([method, source, target, csv_num(mean), csv_num(std), str(len(splits)),
                             join_values(splits), str(bool(mark)).lower()])
            nested = [[data[(method, source)][target][sp][sd] for sd in sort_units(data[(method, source)][target][sp])]
                      for sp in splits]
            points.append(plot_point(method, target, nested))
        rows.append(row)
    splits_all = join_values(s for v in data.values() for t in v.values() for s in t)
    head_notes = [
        "Cells: top-1 % mean ± sample std (ddof = 1) over the target's evaluation splits (each split averaged "
        "over seeds if several); no ± with a single split. Per-split accuracy with 95% CIs: zero_shot_splits.",
        f"Splits: {splits_all}; seeds: {join_values(seed_of(r) for r in records)}. Rows: method and the source "
        f"dataset it was trained on (\"{UNTRAINED}\": the method does not train in its run); columns: targets.",
        *significance_notes(comparisons, reference, "exact McNemar on per-video correctness pooled over the "
                             "target's splits where both methods ran on identical video lists (Δ of the mean "
                             "over splits and its CI by paired bootstrap, videos resampled within each split)",
                             "zero_shot_tests", "split"),
        *notes]
    if collisions:
        head_notes.append("Evaluations reported by more than one record (newest kept): " + "; ".join(collisions))
    headline = Table("zero_shot", "Zero-shot: top-1 % on each target, mean ± std over splits", header, rows,
                     ["method", "source", "target", "mean_pct", "std_pct", "n_splits", "splits",
                      "significant_vs_reference"], csv_rows, head_notes)

    sp_rows, sp_csv = [], []
    for method, source in rowkeys:
        for target in targets:
            for split in sort_units(data[(method, source)].get(target, {})):
                est, low, high, n, seeds = split_value[(method, source, target, split)]
                sp_rows.append([method, source, target, split, pct_ci(est, low, high), str(n), join_values(seeds)])
                sp_csv.append([method, source, target, split, csv_num(est), csv_num(low), csv_num(high), str(n),
                               join_values(seeds)])
    per_split = Table("zero_shot_splits", "Zero-shot per split, top-1 % [95% bootstrap CI]",
                      ["method", "source", "target", "split", "top-1", "videos", "seeds"], sp_rows,
                      ["method", "source", "target", "split", "top1_pct", "ci_low_pct", "ci_high_pct", "n_videos",
                       "seeds"], sp_csv,
                      [f"CIs: percentile bootstrap over the split's videos, {RESAMPLES:,} resamples, rng seed 0."])
    tests = tests_table("zero_shot_tests", f"Zero-shot: comparisons with {reference}", comparisons,
                        "source", "target", "splits×seeds", reference)

    def videos(recs):
        return join_values(f"{zs_target(ev)[1]}:{(ev.get('metrics') or {}).get('n_videos', DASH)}"
                     for r in recs for ev in r["evaluations"])
    prov = provenance_table("zero_shot_provenance", "Zero-shot: what produced each row", dict(groups), "source",
                            "seeds", lambda recs: join_values(seed_of(r) for r in recs), videos)
    return [headline, per_split, tests, prov], points
