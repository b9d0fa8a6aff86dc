"""The base-to-novel tables: B, N and HM of the seed-averaged B and N (methods.md §3.2) with bootstrap CIs and
marks against the reference, per seed, tests and provenance."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import stats
from .comparisons import (Comparison, accuracy_comparison, apply_holm, direction_notes, seed_level,
                          significance_notes, tests_table, unit_comparison)
from ..errors import HarnessError
from .outcomes import direction_mean, find_eval, group_by, has_direction, outcome, pairable, same_videos, seed_of, \
    sort_units, where_of
from .provenance import provenance_table
from .render import DASH, MARK, RESAMPLES, Table, csv_num, join_values, methods_order, pct_ci


def b2n_data(records: list[dict]) -> dict:
    """(method, dataset) → seed → (base Outcome, novel Outcome)."""
    data: dict = defaultdict(dict)
    for rec in records:
        base, novel = find_eval(rec, "base"), find_eval(rec, "novel")
        if base is None or novel is None:
            raise HarnessError(f"{where_of(rec)}: a base2novel record needs evaluations 'base' and 'novel'")
        data[(rec["method"], rec["dataset"])][seed_of(rec)] = (outcome(base, where_of(rec, "base")),
                                                             outcome(novel, where_of(rec, "novel")))
    return dict(data)


def b2n_summary(per_seed: dict) -> dict:
    """Seed-averaged B and N, HM of them, with bootstrap CIs (``stats.bootstrap_hm``), and the seeds; plus
    ``B direction`` / ``N direction`` as (value, low, high) or None."""
    seeds = sort_units(per_seed)
    bases = [per_seed[s][0] for s in seeds]
    novels = [per_seed[s][1] for s in seeds]
    if all(o.keys is not None for o in bases + novels):
        same = same_videos(bases) and same_videos(novels)
        r = stats.bootstrap_hm([o.correct for o in bases], [o.correct for o in novels], RESAMPLES, 0.95, 0,
                               same_videos=same)
    else:
        b, n = float(np.mean([o.acc for o in bases])), float(np.mean([o.acc for o in novels]))
        r = {"base": b, "novel": n, "hm": stats.harmonic_mean(b, n)}
    return dict(r, seeds=seeds, **{"B direction": direction_mean(bases), "N direction": direction_mean(novels)})


def b2n_comparisons(method: str, row: str, mine: dict, ref: dict, directions: bool) -> list[Comparison]:
    """B and N (exact McNemar), HM (paired bootstrap of ΔHM) and, with ``directions``, B / N direction."""
    out = []
    seeds = [s for s in sort_units(set(mine) & set(ref))
             if pairable(mine[s][0], ref[s][0]) and pairable(mine[s][1], ref[s][1])]
    common = sort_units(set(mine) & set(ref))
    for idx, col in ((0, "B"), (1, "N")):
        comp = accuracy_comparison(method, row, col, [(mine[s][idx], ref[s][idx]) for s in seeds])
        if comp:
            comp.seed = seed_level([mine[s][idx].acc for s in common], [ref[s][idx].acc for s in common])
            out.append(comp)
    if seeds:
        same = (same_videos([mine[s][0] for s in seeds]) and same_videos([mine[s][1] for s in seeds]))
        r = stats.paired_bootstrap_hm([mine[s][0].correct for s in seeds], [mine[s][1].correct for s in seeds],
                                      [ref[s][0].correct for s in seeds], [ref[s][1].correct for s in seeds],
                                      RESAMPLES, 0.95, 0, same_videos=same)
        hm = lambda pair: stats.harmonic_mean(pair[0].acc, pair[1].acc)  # noqa: E731
        out.append(Comparison(method, row, "HM", len(seeds), r["diff"], r["low"], r["high"], r["p"],
                              "paired bootstrap", r["p"],
                              seed=seed_level([hm(mine[s]) for s in common], [hm(ref[s]) for s in common])))
    if directions:
        for idx, col in ((0, "B direction"), (1, "N direction")):
            comp = unit_comparison(method, row, col, {s: v[idx] for s, v in mine.items()},
                                   {s: v[idx] for s, v in ref.items()}, direction=True)
            if comp:
                out.append(comp)
    return out


def build_base2novel(records: list[dict], reference: str, notes: list[str]) -> tuple[list[Table], list[dict]]:
    """Headline B/N/HM table, per-seed table, tests, provenance; plus plot points (HM per method × dataset)."""
    groups = group_by(records, lambda r: (r["method"], r["dataset"]))
    data = b2n_data(records)
    methods = methods_order([m for m, _ in data], reference)
    datasets = sorted({d for _, d in data})

    summary = {key: b2n_summary(per_seed) for key, per_seed in data.items()}
    # datasets whose records carry direction-within-pair (classes in time-reversal pairs): two more columns
    dir_datasets = {d for (_, d), per_seed in data.items() if has_direction(o for pair in per_seed.values()
                                                                            for o in pair)}

    comparisons = []
    for method in methods:
        for dataset in datasets:
            if method == reference or (method, dataset) not in data or (reference, dataset) not in data:
                continue
            comparisons += b2n_comparisons(method, dataset, data[(method, dataset)], data[(reference, dataset)],
                                           dataset in dir_datasets)
    apply_holm(comparisons)
    marks = {(c.method, c.row, c.column): c.significant for c in comparisons}

    # headline
    cols_of = {d: [("B", "base"), ("N", "novel"), ("HM", "hm")]
               + ([("B direction", None), ("N direction", None)] if d in dir_datasets else []) for d in datasets}
    header = ["method"] + [f"{d} {col}" for d in datasets for col, _ in cols_of[d]]
    rows, csv_rows = [], []
    for method in methods:
        row = [method]
        for dataset in datasets:
            s = summary.get((method, dataset))
            for col, key in cols_of[dataset]:
                value = None if s is None else \
                    (s[col] if key is None else (s[key], s.get(f"{key}_low"), s.get(f"{key}_high")))
                if value is None:
                    row.append(DASH)
                    continue
                mark = MARK if marks.get((method, dataset, col)) else ""
                row.append(pct_ci(*value) + mark)
                csv_rows.append([method, dataset, col, csv_num(value[0]), csv_num(value[1]), csv_num(value[2]),
                                 str(len(s["seeds"])), join_values(s["seeds"]), str(bool(mark)).lower()])
        rows.append(row)
    seeds_all = join_values(s for v in summary.values() for s in v["seeds"])
    head_notes = [
        "Cells: top-1 % averaged over seeds [95% percentile bootstrap CI over videos, "
        f"{RESAMPLES:,} resamples, rng seed 0]; B on the base classes only, N on the novel classes only; "
        "HM = 2·B·N/(B+N) of the seed-averaged B and N (methods.md §3.2). Base and novel videos are resampled "
        "independently; seeds evaluated on the same list share each draw (else each seed's list is resampled).",
        f"Seeds: {seeds_all}. Per-seed values: base2novel_seeds; what produced each row: base2novel_provenance.",
        *significance_notes(comparisons, reference, "B and N: exact McNemar on per-video correctness pooled "
                             "over the seeds both methods ran, on identical video lists; HM: paired bootstrap of "
                             "ΔHM (base and novel resampled independently, the pairing kept inside each set)",
                             "base2novel_tests", "seed"),
        *direction_notes(bool(dir_datasets), "seed", "Direction columns (B direction, N direction)"),
        *notes]
    headline = Table("base2novel", "Base-to-novel: base (B), novel (N) and harmonic mean (HM), top-1 %",
                     header, rows,
                     ["method", "dataset", "metric", "value_pct", "ci_low_pct", "ci_high_pct", "n_seeds", "seeds",
                      "significant_vs_reference"], csv_rows, head_notes)

    # per seed
    s_header = ["method", "dataset", "seed", "B", "N", "HM", "videos (base/novel)"]
    s_rows, s_csv = [], []
    for method in methods:
        for dataset in datasets:
            per_seed = data.get((method, dataset), {})
            for seed in sort_units(per_seed):
                b, n = per_seed[seed]
                if b.keys is not None and n.keys is not None:
                    r = stats.bootstrap_hm([b.correct], [n.correct], RESAMPLES, 0.95, 0)
                else:
                    r = {"base": b.acc, "novel": n.acc, "hm": stats.harmonic_mean(b.acc, n.acc)}
                cells = [pct_ci(r[k], r.get(f"{k}_low"), r.get(f"{k}_high")) for k in ("base", "novel", "hm")]
                s_rows.append([method, dataset, DASH if seed is None else str(seed), *cells, f"{b.n}/{n.n}"])
                s_csv.append([method, dataset, str(seed)] + [csv_num(r.get(f"{k}{suf}")) for k in
                              ("base", "novel", "hm") for suf in ("", "_low", "_high")] + [str(b.n), str(n.n)])
    per_seed_table = Table(
        "base2novel_seeds", "Base-to-novel per seed, top-1 % [95% bootstrap CI]", s_header, s_rows,
        ["method", "dataset", "seed", "base_pct", "base_low_pct", "base_high_pct", "novel_pct", "novel_low_pct",
         "novel_high_pct", "hm_pct", "hm_low_pct", "hm_high_pct", "n_base_videos", "n_novel_videos"], s_csv,
        [f"CIs: percentile bootstrap over the videos of that seed's list, {RESAMPLES:,} resamples, rng seed 0. "
         "Per-seed HM = 2·B·N/(B+N) of that seed."])

    tests = tests_table("base2novel_tests", f"Base-to-novel: comparisons with {reference}", comparisons,
                        "dataset", "metric", "seeds", reference)
    prov = provenance_table(
        "base2novel_provenance", "Base-to-novel: what produced each row",
        {key: recs for key, recs in groups.items()}, "dataset", "seeds",
        lambda recs: join_values(seed_of(r) for r in recs),
        lambda recs: join_values(f"{(find_eval(r, 'base') or {}).get('metrics', {}).get('n_videos', DASH)}/"
                           f"{(find_eval(r, 'novel') or {}).get('metrics', {}).get('n_videos', DASH)}"
                           for r in recs))
    points = [{"method": m, "dataset": d, "value": s["hm"], "low": s.get("hm_low"), "high": s.get("hm_high")}
              for (m, d), s in sorted(summary.items())]
    return [headline, per_seed_table, tests, prov], points
