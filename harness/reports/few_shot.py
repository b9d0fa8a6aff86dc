"""The few-shot tables: all-way K-shot top-1, one column per K (and its direction column where classes come in
reversal pairs), per K and seed, tests and provenance."""
from __future__ import annotations

from collections import defaultdict

from . import stats
from .comparisons import apply_holm, direction_notes, significance_notes, tests_table, unit_comparison
from ..errors import HarnessError
from .outcomes import direction_mean, find_eval, group_by, has_direction, outcome, plot_point, seed_mean, seed_of, \
    sort_units, where_of
from .provenance import provenance_table
from .render import DASH, MARK, RESAMPLES, Table, csv_num, join_values, methods_order, pct_ci


def few_shot_data(records: list[dict]) -> dict:
    """(method, dataset) → K → seed → Outcome of the evaluation named 'test' (or the only one)."""
    data: dict = defaultdict(lambda: defaultdict(dict))
    for rec in records:
        shots = (rec.get("unit") or {}).get("shots")
        if shots is None:
            raise HarnessError(f"{where_of(rec)}: a few-shot record needs unit.shots")
        ev = find_eval(rec, "test") or (rec["evaluations"][0] if len(rec["evaluations"]) == 1 else None)
        if ev is None:
            raise HarnessError(f"{where_of(rec)}: a few-shot record needs an evaluation named 'test'")
        data[(rec["method"], rec["dataset"])][int(shots)][seed_of(rec)] = outcome(ev, where_of(rec, ev.get("name", "")))
    return data


def build_few_shot(records: list[dict], reference: str, notes: list[str]) -> tuple[list[Table], list[dict]]:
    """One column per K (mean over seeds, CI), per-seed table, tests, provenance."""
    groups = group_by(records, lambda r: (r["method"], r["dataset"]))
    data = few_shot_data(records)
    methods = methods_order([m for m, _ in data], reference)
    datasets = sorted({d for _, d in data})
    shots_of = {d: sorted({k for (m, dd), v in data.items() if dd == d for k in v}) for d in datasets}

    cell, dir_cell = {}, {}
    for (method, dataset), by_k in data.items():
        for k, by_seed in by_k.items():
            outs = [by_seed[s] for s in sort_units(by_seed)]
            cell[(method, dataset, k)] = seed_mean(outs)
            dir_cell[(method, dataset, k)] = direction_mean(outs)
    # datasets whose records carry direction-within-pair (classes in time-reversal pairs): a column beside each K
    dir_datasets = {d for (_, d), by_k in data.items() if has_direction(o for v in by_k.values() for o in v.values())}

    comparisons = []
    for method in methods:
        for dataset in datasets:
            if method == reference or (method, dataset) not in data or (reference, dataset) not in data:
                continue
            for k in shots_of[dataset]:
                mine, ref = data[(method, dataset)].get(k, {}), data[(reference, dataset)].get(k, {})
                for column, direction in ((f"K={k}", False), (f"K={k} direction", True)):
                    if direction and dataset not in dir_datasets:
                        continue
                    comp = unit_comparison(method, dataset, column, mine, ref, direction)
                    if comp:
                        comparisons.append(comp)
    apply_holm(comparisons)
    marks = {(c.method, c.row, c.column): c.significant for c in comparisons}

    with_dir = bool(dir_datasets)
    header = ["method"] + [f"{d} K={k}{suffix}" for d in datasets for k in shots_of[d]
                           for suffix in ("", " direction")[:1 + (d in dir_datasets)]]
    rows, csv_rows, points = [], [], []
    for method in methods:
        row = [method]
        for dataset in datasets:
            for k in shots_of[dataset]:
                c, dc = cell.get((method, dataset, k)), dir_cell.get((method, dataset, k))
                dmark = MARK if marks.get((method, dataset, f"K={k} direction")) else ""
                if c is None:
                    row.append(DASH)
                else:
                    mark = MARK if marks.get((method, dataset, f"K={k}")) else ""
                    row.append(pct_ci(*c) + mark)
                    seeds = sort_units(data[(method, dataset)][k])
                    csv_rows.append([method, dataset, str(k), csv_num(c[0]), csv_num(c[1]), csv_num(c[2]),
                                     str(len(seeds)), join_values(seeds), str(bool(mark)).lower()]
                                    + ([csv_num(dc[0]), csv_num(dc[1]), csv_num(dc[2]), str(bool(dmark)).lower()]
                                       if dc else ["", "", "", ""] if with_dir else []))
                if dataset in dir_datasets:
                    row.append(DASH if dc is None else pct_ci(*dc) + dmark)
            by_k = data.get((method, dataset), {})
            nested = [[by_k[k][s] for s in sort_units(by_k[k])] for k in shots_of[dataset] if k in by_k]
            if nested:
                points.append(plot_point(method, dataset, nested))
        rows.append(row)
    head_notes = [
        "Cells: all-way K-shot top-1 % (mean over seeds if several) [95% percentile bootstrap CI over the test "
        f"videos, {RESAMPLES:,} resamples, rng seed 0]. Seeds: {join_values(seed_of(r) for r in records)}. "
        "Per-seed values: few_shot_seeds.",
        *significance_notes(comparisons, reference, "exact McNemar on per-video correctness pooled over the "
                             "seeds both methods ran at that K, on identical video lists (Δ and its CI by paired "
                             "bootstrap)",
                             "few_shot_tests", "seed"),
        *direction_notes(with_dir, "seed", "Direction columns (K=k direction)"),
        *notes]
    headline = Table("few_shot", "Few-shot (all-way K-shot): top-1 %", header, rows,
                     ["method", "dataset", "shots", "top1_pct", "ci_low_pct", "ci_high_pct", "n_seeds", "seeds",
                      "significant_vs_reference"]
                     + (["direction_pct", "direction_low_pct", "direction_high_pct",
                         "direction_significant_vs_reference"] if with_dir else []), csv_rows, head_notes)

    s_rows, s_csv = [], []
    for method in methods:
        for dataset in datasets:
            for k in sorted(data.get((method, dataset), {})):
                for seed in sort_units(data[(method, dataset)][k]):
                    o = data[(method, dataset)][k][seed]
                    est, low, high = (stats.bootstrap_ci(o.correct, RESAMPLES, 0.95, 0) if o.keys is not None
                                      else (o.acc, None, None))
                    s_rows.append([method, dataset, str(k), str(seed), pct_ci(est, low, high), str(o.n)])
                    s_csv.append([method, dataset, str(k), str(seed), csv_num(est), csv_num(low), csv_num(high),
                                  str(o.n)])
    per_seed = Table("few_shot_seeds", "Few-shot per K and seed, top-1 % [95% bootstrap CI]",
                     ["method", "dataset", "K", "seed", "top-1", "videos"], s_rows,
                     ["method", "dataset", "shots", "seed", "top1_pct", "ci_low_pct", "ci_high_pct", "n_videos"],
                     s_csv, [f"CIs: percentile bootstrap over the test videos, {RESAMPLES:,} resamples, rng seed 0."])
    tests = tests_table("few_shot_tests", f"Few-shot: comparisons with {reference}", comparisons, "dataset",
                        "K", "seeds", reference)
    prov = provenance_table(
        "few_shot_provenance", "Few-shot: what produced each row", dict(groups), "dataset", "K; seeds",
        lambda recs: f"K {join_values((r.get('unit') or {}).get('shots') for r in recs)}; "
                     f"seeds {join_values(seed_of(r) for r in recs)}",
        lambda recs: join_values((ev.get("metrics") or {}).get("n_videos") for r in recs for ev in r["evaluations"]))
    return [headline, per_seed, tests, prov], points
