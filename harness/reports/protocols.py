"""Per-protocol tables (base-to-novel, zero-shot, few-shot) with CIs and paired tests against a reference.

Why: each protocol reports differently (methods.md §3: HM of seed-averaged B and N; mean ± std over zero-shot
splits; one column per K), but all share the same rule for significance: paired tests on identical videos,
exact McNemar pooled over matched units, paired bootstrap for Δ, Holm over the table (engineering.md §4).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from . import stats
from ..errors import HarnessError
from ..engine.records import UNTRAINED, zero_shot_source
from .render import (ALPHA, DASH, MARK, RESAMPLES, Table, csv_num, csv_p, fmt_p, join_values, methods_order,
                           natural_key, pct, pct_ci, pp_ci)


def created_key(record: dict) -> tuple:
    """Sort key: creation time, then run_id (so equal times still give one deterministic winner)."""
    text = str(record.get("created_utc") or "")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        when = float("-inf")
    return when, text, str(record["run_id"])


# ============================================================================================ per-video outcomes


@dataclass(frozen=True)
class Outcome:
    """One evaluation's result: accuracy, and per-video correctness aligned on sorted (video, label) keys.

    ``direction``: direction within reversal pairs as an Outcome of its own (over the videos whose class has its
    time-reversed partner in the class set), so the CI and McNemar code of top-1 applies to it unchanged; None
    when there is no value. ``has_direction``: the record carries ``metrics.direction_accuracy`` at all (even
    null), which decides whether a table shows a direction column.
    """

    acc: float
    n: int
    keys: tuple | None = None
    correct: np.ndarray | None = None
    direction: "Outcome | None" = None
    has_direction: bool = False


def outcome(evaluation: dict, where: str) -> Outcome:
    preds = evaluation.get("predictions") or []
    direction = _direction_outcome(evaluation, preds, where)
    has_direction = "direction_accuracy" in (evaluation.get("metrics") or {})
    if preds:
        try:
            rows = sorted((str(p["video"]), int(p["label"]), int(p["pred"])) for p in preds)
        except (KeyError, TypeError, ValueError):
            raise HarnessError(f"{where}: predictions need 'video', 'label' and 'pred'") from None
        correct = np.array([label == pred for _, label, pred in rows], dtype=bool)
        return Outcome(float(correct.mean()), len(rows), tuple((v, lab) for v, lab, _ in rows), correct, direction,
                       has_direction)
    metrics = evaluation.get("metrics") or {}
    if "top1" not in metrics:
        raise HarnessError(f"{where}: evaluation has neither predictions nor metrics.top1")
    return Outcome(float(metrics["top1"]), int(metrics.get("n_videos") or 0), direction=direction,
                   has_direction=has_direction)


def _direction_outcome(evaluation: dict, preds: list, where: str) -> Outcome | None:
    """Per-video ``direction`` booleans (videos without the key have no partner class and do not count)."""
    if "direction_accuracy" not in (evaluation.get("metrics") or {}):
        return None
    rows = []
    for p in preds:
        flag = p.get("direction") if isinstance(p, dict) else None
        if flag is None:
            continue
        if not isinstance(flag, bool):
            raise HarnessError(f"{where}: prediction 'direction' must be true or false, got {flag!r}")
        rows.append((str(p.get("video")), int(p.get("label", -1)), flag))
    if rows:
        rows.sort()
        flags = np.array([f for *_, f in rows], dtype=bool)
        return Outcome(float(flags.mean()), len(rows), tuple((v, lab) for v, lab, _ in rows), flags)
    value = evaluation["metrics"]["direction_accuracy"]
    return None if value is None else Outcome(float(value), 0)


def seed_mean(outs: list[Outcome]) -> tuple[float, float | None, float | None]:
    """(mean over seeds/splits, 95 % CI low, high): bootstrap over videos when every unit has per-video data
    (seeds on one list share each draw), else the plain mean without a CI."""
    if all(o.keys is not None for o in outs):
        return stats.bootstrap_mean_ci([o.correct for o in outs], RESAMPLES, 0.95, 0, same_videos=_same_videos(outs))
    return float(np.mean([o.acc for o in outs])), None, None


def direction_mean(outs: list[Outcome]) -> tuple[float, float | None, float | None] | None:
    """``seed_mean`` of the units' direction outcomes (those that have one); None when none has."""
    dirs = [o.direction for o in outs if o.direction is not None]
    return seed_mean(dirs) if dirs else None


def nested_mean(nested: list[list[Outcome]]) -> tuple[float, float | None, float | None]:
    """Mean over outer units (splits, K) of the mean over their seeds, with its 95 % bootstrap CI (None without
    per-video data)."""
    flat = [o for inner in nested for o in inner]
    if all(o.keys is not None for o in flat):
        return stats.bootstrap_nested_mean_ci([[o.correct for o in inner] for inner in nested], RESAMPLES, 0.95, 0,
                                              same_videos=_same_videos(flat))
    return float(np.mean([np.mean([o.acc for o in inner]) for inner in nested])), None, None


def _point(method: str, dataset: str, nested: list[list[Outcome]]) -> dict:
    """A plot point: ``nested_mean`` of one method on one dataset."""
    value, low, high = nested_mean(nested)
    return {"method": method, "dataset": dataset, "value": value, "low": low, "high": high}


def _same_videos(outcomes: list[Outcome]) -> bool:
    return all(o.keys is not None for o in outcomes) and len({o.keys for o in outcomes}) == 1


def _pairable(a: Outcome | None, b: Outcome | None) -> bool:
    return a is not None and b is not None and a.keys is not None and a.keys == b.keys


def _where(rec: dict, ev_name: str = "") -> str:
    return f"{rec['_path']}" + (f" evaluation {ev_name!r}" if ev_name else "")


# ============================================================================================ comparisons


@dataclass
class Comparison:
    """One cell's test against the reference. ``p`` is the primary test's raw p, ``p_holm`` its adjusted p."""

    method: str
    row: str
    column: str
    units: int
    diff: float
    low: float
    high: float
    p_boot: float
    test: str
    p: float
    n01: int | None = None
    n10: int | None = None
    p_mcnemar: float | None = None
    seed: dict | None = None
    p_holm: float = float("nan")

    @property
    def significant(self) -> bool:
        return bool(self.p_holm < ALPHA)


def _accuracy_comparison(method, row, column, pairs: list[tuple[Outcome, Outcome]]) -> Comparison | None:
    """Pooled exact McNemar + paired bootstrap of Δ(mean accuracy over the matched units)."""
    pairs = [(a, b) for a, b in pairs if _pairable(a, b)]
    if not pairs:
        return None
    pooled_a = np.concatenate([a.correct for a, _ in pairs])
    pooled_b = np.concatenate([b.correct for _, b in pairs])
    mc = stats.mcnemar_exact(pooled_a, pooled_b)
    same = _same_videos([a for a, _ in pairs])
    boot = stats.paired_bootstrap_grouped([a.correct for a, _ in pairs], [b.correct for _, b in pairs],
                                          RESAMPLES, 0.95, 0, same_videos=same)
    return Comparison(method, row, column, len(pairs), boot["diff"], boot["low"], boot["high"], boot["p"],
                      "exact McNemar", mc["p"], mc["n01"], mc["n10"], mc["p"])


def unit_comparison(method, row, column, mine: dict, ref: dict, direction: bool = False) -> Comparison | None:
    """Top-1 (or, with ``direction``, direction-within-pair) of ``method`` vs the reference over the units
    (seeds, or (split, seed)) both ran: pooled exact McNemar + paired bootstrap, plus the unit-level tests."""
    common = _sort_units(set(mine) & set(ref))
    get = (lambda o: o.direction) if direction else (lambda o: o)
    comp = _accuracy_comparison(method, row, column, [(get(mine[u]), get(ref[u])) for u in common])
    if comp:
        both = [u for u in common if get(mine[u]) is not None and get(ref[u]) is not None]
        comp.seed = _seed_level([get(mine[u]).acc for u in both], [get(ref[u]).acc for u in both])
    return comp


def _apply_holm(comparisons: list[Comparison]) -> None:
    if comparisons:
        for comp, adj in zip(comparisons, stats.holm([c.p for c in comparisons])):
            comp.p_holm = adj


def _seed_level(values_a: list[float], values_b: list[float]) -> dict:
    return stats.seed_tests(values_a, values_b, ALPHA)


def tests_table(stem: str, title: str, comparisons: list[Comparison], row_name: str, column_name: str,
                unit_name: str, reference: str) -> Table:
    header = ["method", row_name, column_name, f"Δ vs {reference} (pp) [95% CI]", "bootstrap p",
              "McNemar n01/n10", "McNemar p", "primary test", "Holm p", "sig.", unit_name,
              "t-test p", "Wilcoxon p", "Wilcoxon min p"]
    csv_header = ["method", row_name, column_name, "reference", "delta_pct", "delta_low_pct", "delta_high_pct",
                  "p_bootstrap", "mcnemar_n01", "mcnemar_n10", "p_mcnemar", "primary_test", "p_primary",
                  "p_holm", "significant", unit_name, "ttest_p", "wilcoxon_p", "seed_pairs", "wilcoxon_powerless"]
    rows, csv_rows = [], []
    for c in comparisons:
        seed = c.seed or {}
        rows.append([c.method, c.row, c.column, pp_ci(c.diff, c.low, c.high), fmt_p(c.p_boot),
                     DASH if c.n01 is None else f"{c.n01}/{c.n10}", fmt_p(c.p_mcnemar), c.test, fmt_p(c.p_holm),
                     (f"{MARK} higher" if c.diff > 0 else f"{MARK} lower") if c.significant else "", str(c.units), fmt_p(seed.get("ttest_p")),
                     fmt_p(seed.get("wilcoxon_p")),
                     DASH if not seed else f"{seed['min_wilcoxon_p']:.3g}" + (" (powerless)" if seed["powerless"]
                                                                               else "")])
        csv_rows.append([c.method, c.row, c.column, reference, csv_num(c.diff), csv_num(c.low), csv_num(c.high),
                         csv_p(c.p_boot), "" if c.n01 is None else str(c.n01),
                         "" if c.n10 is None else str(c.n10), csv_p(c.p_mcnemar), c.test, csv_p(c.p),
                         csv_p(c.p_holm), str(c.significant).lower(), str(c.units), csv_p(seed.get("ttest_p")),
                         csv_p(seed.get("wilcoxon_p")), str(seed.get("n", "")),
                         "" if not seed else str(seed["powerless"]).lower()])
    notes = [f"{MARK}: differs from the reference `{reference}` (Holm-adjusted p < {ALPHA}), either direction — "
             f"\"higher\" / \"lower\" after the mark and the sign of Δ say which; Holm step-down over the "
             f"{len(comparisons)} comparisons of this table on the primary test's p.",
             f"Paired bootstrap: {RESAMPLES:,} resamples of the videos (rng seed 0), the same videos for both "
             f"methods; percentile 95% CI; p = 2·min(P(Δ*≤0), P(Δ*≥0)).",
             "Exact McNemar: two-sided binomial test on the discordant videos (n01 = method right / reference "
             "wrong), pooled over the matched units on identical video lists.",
             *_seed_level_notes(comparisons, "seed/split")] if comparisons else \
        [f"No comparisons: the reference `{reference}` shares no identical evaluation videos with another method."]
    return Table(stem, title, header, rows, csv_header, csv_rows, notes)


# ============================================================================================ provenance


def _git(rec: dict) -> str:
    env = rec.get("environment") or {}
    rev = str(env.get("git_revision") or "")[:7] or DASH
    return rev + ("+dirty" if env.get("git_dirty") else "")


def _text_source(rec: dict) -> str:
    text = rec.get("text") or {}
    templates = text.get("templates") or []
    shown = templates[0] if len(templates) == 1 else f"{len(templates)} templates"
    return f"{text.get('source', DASH)}: {shown}" if templates else str(text.get("source", DASH))


def views_text(rec: dict) -> str:
    views = rec.get("views") or {}
    return f"{views.get('clips', DASH)}×{views.get('crops', DASH)}"


def provenance_table(stem: str, title: str, groups: dict[tuple[str, str], list[dict]], row_name: str,
                     units_label: str, units_of, videos_of) -> Table:
    """One row per (method, dataset) with what produced it (records with differing values show them all)."""
    header = ["method", row_name, "backbone", "frames", "input", "views (clips×crops)", "text", units_label,
              "videos", "protocol v", "git", "records"]
    rows = []
    for (method, row), recs in sorted(groups.items()):
        model = [r.get("model") or {} for r in recs]
        rows.append([method, row, join_values(m.get("backbone") for m in model),
                     join_values(m.get("frames") for m in model), join_values(m.get("input_size") for m in model),
                     join_values(views_text(r) for r in recs),
                     join_values(_text_source(r) for r in recs), units_of(recs), videos_of(recs),
                     join_values(r["protocol"].get("version") for r in recs), join_values(_git(r) for r in recs),
                     str(len(recs))])
    return Table(stem, title, header, rows, header, rows,
                 ["Views: clips × crops per video. Input: square side in pixels. Git: short harness revision "
                  "that wrote the records (+dirty: uncommitted changes)."])


# ============================================================================================ base-to-novel


def group_by(records: list[dict], key) -> dict:
    groups = defaultdict(list)
    for rec in records:
        groups[key(rec)].append(rec)
    return groups


def _find_eval(rec: dict, name: str) -> dict | None:
    return next((ev for ev in rec["evaluations"] if ev.get("name") == name), None)


def _seed(rec: dict):
    return (rec.get("unit") or {}).get("seed")


def _sort_units(keys):
    return sorted(keys, key=lambda k: (k is None, natural_key(str(k))))


def b2n_data(records: list[dict]) -> dict:
    """(method, dataset) → seed → (base Outcome, novel Outcome)."""
    data: dict = defaultdict(dict)
    for rec in records:
        base, novel = _find_eval(rec, "base"), _find_eval(rec, "novel")
        if base is None or novel is None:
            raise HarnessError(f"{_where(rec)}: a base2novel record needs evaluations 'base' and 'novel'")
        data[(rec["method"], rec["dataset"])][_seed(rec)] = (outcome(base, _where(rec, "base")),
                                                             outcome(novel, _where(rec, "novel")))
    return dict(data)


def b2n_summary(per_seed: dict) -> dict:
    """Seed-averaged B and N, HM of them, with bootstrap CIs (``stats.bootstrap_hm``), and the seeds; plus
    ``B direction`` / ``N direction`` as (value, low, high) or None."""
    seeds = _sort_units(per_seed)
    bases = [per_seed[s][0] for s in seeds]
    novels = [per_seed[s][1] for s in seeds]
    if all(o.keys is not None for o in bases + novels):
        same = _same_videos(bases) and _same_videos(novels)
        r = stats.bootstrap_hm([o.correct for o in bases], [o.correct for o in novels], RESAMPLES, 0.95, 0,
                               same_videos=same)
    else:
        b, n = float(np.mean([o.acc for o in bases])), float(np.mean([o.acc for o in novels]))
        r = {"base": b, "novel": n, "hm": stats.harmonic_mean(b, n)}
    return dict(r, seeds=seeds, **{"B direction": direction_mean(bases), "N direction": direction_mean(novels)})


def b2n_comparisons(method: str, row: str, mine: dict, ref: dict, directions: bool) -> list[Comparison]:
    """B and N (exact McNemar), HM (paired bootstrap of ΔHM) and, with ``directions``, B / N direction."""
    out = []
    seeds = [s for s in _sort_units(set(mine) & set(ref))
             if _pairable(mine[s][0], ref[s][0]) and _pairable(mine[s][1], ref[s][1])]
    common = _sort_units(set(mine) & set(ref))
    for idx, col in ((0, "B"), (1, "N")):
        comp = _accuracy_comparison(method, row, col, [(mine[s][idx], ref[s][idx]) for s in seeds])
        if comp:
            comp.seed = _seed_level([mine[s][idx].acc for s in common], [ref[s][idx].acc for s in common])
            out.append(comp)
    if seeds:
        same = (_same_videos([mine[s][0] for s in seeds]) and _same_videos([mine[s][1] for s in seeds]))
        r = stats.paired_bootstrap_hm([mine[s][0].correct for s in seeds], [mine[s][1].correct for s in seeds],
                                      [ref[s][0].correct for s in seeds], [ref[s][1].correct for s in seeds],
                                      RESAMPLES, 0.95, 0, same_videos=same)
        hm = lambda pair: stats.harmonic_mean(pair[0].acc, pair[1].acc)  # noqa: E731
        out.append(Comparison(method, row, "HM", len(seeds), r["diff"], r["low"], r["high"], r["p"],
                              "paired bootstrap", r["p"],
                              seed=_seed_level([hm(mine[s]) for s in common], [hm(ref[s]) for s in common])))
    if directions:
        for idx, col in ((0, "B direction"), (1, "N direction")):
            comp = unit_comparison(method, row, col, {s: v[idx] for s, v in mine.items()},
                                   {s: v[idx] for s, v in ref.items()}, direction=True)
            if comp:
                out.append(comp)
    return out


def _has_direction(units) -> bool:
    return any(o.has_direction for o in units)


def build_base2novel(records: list[dict], reference: str, notes: list[str]) -> tuple[list[Table], list[dict]]:
    """Headline B/N/HM table, per-seed table, tests, provenance; plus plot points (HM per method × dataset)."""
    groups = group_by(records, lambda r: (r["method"], r["dataset"]))
    data = b2n_data(records)
    methods = methods_order([m for m, _ in data], reference)
    datasets = sorted({d for _, d in data})

    summary = {key: b2n_summary(per_seed) for key, per_seed in data.items()}
    # datasets whose records carry direction-within-pair (classes in time-reversal pairs): two more columns
    dir_datasets = {d for (_, d), per_seed in data.items() if _has_direction(o for pair in per_seed.values()
                                                                            for o in pair)}

    comparisons = []
    for method in methods:
        for dataset in datasets:
            if method == reference or (method, dataset) not in data or (reference, dataset) not in data:
                continue
            comparisons += b2n_comparisons(method, dataset, data[(method, dataset)], data[(reference, dataset)],
                                           dataset in dir_datasets)
    _apply_holm(comparisons)
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
        *_significance_notes(comparisons, reference, "B and N: exact McNemar on per-video correctness pooled "
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
            for seed in _sort_units(per_seed):
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
        lambda recs: join_values(_seed(r) for r in recs),
        lambda recs: join_values(f"{(_find_eval(r, 'base') or {}).get('metrics', {}).get('n_videos', DASH)}/"
                           f"{(_find_eval(r, 'novel') or {}).get('metrics', {}).get('n_videos', DASH)}"
                           for r in recs))
    points = [{"method": m, "dataset": d, "value": s["hm"], "low": s.get("hm_low"), "high": s.get("hm_high")}
              for (m, d), s in sorted(summary.items())]
    return [headline, per_seed_table, tests, prov], points


def _significance_notes(comparisons, reference, tests_text, tests_stem, unit) -> list[str]:
    if not comparisons:
        return [f"No significance marks: the reference `{reference}` has no paired evaluations "
                "(identical videos) with another method in this table."]
    return [f"{MARK}: differs from the reference `{reference}` (Holm-adjusted p < {ALPHA}), either direction: "
            f"a mark means neither better nor worse by itself, the sign of Δ in {tests_stem} says which (Holm over "
            f"the {len(comparisons)} comparisons in this table). Tests: {tests_text}. Bootstrap: {RESAMPLES:,} "
            f"resamples, rng seed 0. Δ, CIs, raw and adjusted p: {tests_stem}.",
            *_seed_level_notes(comparisons, unit, tests_stem)]


def direction_notes(present: bool, unit: str, columns: str) -> list[str]:
    """What the direction columns hold (only where a table has them)."""
    if not present:
        return []
    return [f"{columns}: direction within reversal pairs: of the videos whose class has its time-reversed partner "
            "in the class set, the % where the true class scores above that partner (chance 50 %; "
            f"harness/data/pairs.py), mean over {unit}s [95% percentile bootstrap CI over those videos]. Marked by an "
            "exact McNemar test on the per-video direction booleans against the reference, in the same Holm "
            f"family as top-1. {DASH}: the record carries no metrics.direction_accuracy (written before it "
            "existed) or it is null (no pair in the class set)."]


def _seed_level_notes(comparisons, unit, where: str = "") -> list[str]:
    """Say how little a seed-level test can show: the smallest exact Wilcoxon p for each number of pairs."""
    ns = sorted({c.seed["n"] for c in comparisons if c.seed and c.seed["n"] >= 2})
    if not ns:
        return []
    floors = ", ".join(f"{n} {unit} pairs → {stats.min_wilcoxon_p(n):.3g}" for n in ns)
    text = (f"Seed-level tests{f' ({where})' if where else ''}: paired t-test and exact Wilcoxon signed-rank over "
            f"one value per matched {unit}; shown, not used for the marks. Smallest possible two-sided Wilcoxon "
            f"p: {floors} (2/2^n)")
    if any(stats.min_wilcoxon_p(n) >= ALPHA for n in ns):
        text += f"; with so few pairs (3 pairs: min p 0.25) Wilcoxon is powerless at {ALPHA} and the t-test has " \
                "n − 1 df, so neither can establish significance"
    return [text + "."]


# ============================================================================================ zero-shot


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
                key = (method, source, target, split, _seed(rec))
                if key in owner:
                    collisions.append(f"{owner[key]} → {rec['run_id']} ({target}/{split})")
                owner[key] = rec["run_id"]
                data[(method, source)][target][split][_seed(rec)] = outcome(ev, _where(rec, ev.get("name", "")))
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
                outs = [by_seed[s] for s in _sort_units(by_seed)]
                if all(o.keys is not None for o in outs):
                    est, low, high = stats.bootstrap_mean_ci([o.correct for o in outs], RESAMPLES, 0.95, 0,
                                                             same_videos=_same_videos(outs))
                else:
                    est, low, high = float(np.mean([o.acc for o in outs])), None, None
                split_value[(method, source, target, split)] = (est, low, high, outs[0].n, _sort_units(by_seed))

    def target_summary(method, source, target):
        splits = _sort_units(data[(method, source)].get(target, {}))
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
            units = [(sp, sd) for sp in _sort_units(set(mine) & set(ref))
                     for sd in _sort_units(set(mine[sp]) & set(ref[sp]))]
            comp = _accuracy_comparison(method, source, target,
                                        [(mine[sp][sd], ref[sp][sd]) for sp, sd in units])
            if comp:
                common = _sort_units(set(mine) & set(ref))
                comp.seed = _seed_level([split_value[(method, source, target, s)][0] for s in common],
                                        [split_value[(*ref_key, target, s)][0] for s in common])
                comparisons.append(comp)
    _apply_holm(comparisons)
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
            nested = [[data[(method, source)][target][sp][sd] for sd in _sort_units(data[(method, source)][target][sp])]
                      for sp in splits]
            points.append(_point(method, target, nested))
        rows.append(row)
    splits_all = join_values(s for v in data.values() for t in v.values() for s in t)
    head_notes = [
        "Cells: top-1 % mean ± sample std (ddof = 1) over the target's evaluation splits (each split averaged "
        "over seeds if several); no ± with a single split. Per-split accuracy with 95% CIs: zero_shot_splits.",
        f"Splits: {splits_all}; seeds: {join_values(_seed(r) for r in records)}. Rows: method and the source "
        f"dataset it was trained on (\"{UNTRAINED}\": the method does not train in its run); columns: targets.",
        *_significance_notes(comparisons, reference, "exact McNemar on per-video correctness pooled over the "
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
            for split in _sort_units(data[(method, source)].get(target, {})):
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
                            "seeds", lambda recs: join_values(_seed(r) for r in recs), videos)
    return [headline, per_split, tests, prov], points


# ============================================================================================ few-shot


def few_shot_data(records: list[dict]) -> dict:
    """(method, dataset) → K → seed → Outcome of the evaluation named 'test' (or the only one)."""
    data: dict = defaultdict(lambda: defaultdict(dict))
    for rec in records:
        shots = (rec.get("unit") or {}).get("shots")
        if shots is None:
            raise HarnessError(f"{_where(rec)}: a few-shot record needs unit.shots")
        ev = _find_eval(rec, "test") or (rec["evaluations"][0] if len(rec["evaluations"]) == 1 else None)
        if ev is None:
            raise HarnessError(f"{_where(rec)}: a few-shot record needs an evaluation named 'test'")
        data[(rec["method"], rec["dataset"])][int(shots)][_seed(rec)] = outcome(ev, _where(rec, ev.get("name", "")))
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
            outs = [by_seed[s] for s in _sort_units(by_seed)]
            cell[(method, dataset, k)] = seed_mean(outs)
            dir_cell[(method, dataset, k)] = direction_mean(outs)
    # datasets whose records carry direction-within-pair (classes in time-reversal pairs): a column beside each K
    dir_datasets = {d for (_, d), by_k in data.items() if _has_direction(o for v in by_k.values() for o in v.values())}

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
    _apply_holm(comparisons)
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
                    seeds = _sort_units(data[(method, dataset)][k])
                    csv_rows.append([method, dataset, str(k), csv_num(c[0]), csv_num(c[1]), csv_num(c[2]),
                                     str(len(seeds)), join_values(seeds), str(bool(mark)).lower()]
                                    + ([csv_num(dc[0]), csv_num(dc[1]), csv_num(dc[2]), str(bool(dmark)).lower()]
                                       if dc else ["", "", "", ""] if with_dir else []))
                if dataset in dir_datasets:
                    row.append(DASH if dc is None else pct_ci(*dc) + dmark)
            by_k = data.get((method, dataset), {})
            nested = [[by_k[k][s] for s in _sort_units(by_k[k])] for k in shots_of[dataset] if k in by_k]
            if nested:
                points.append(_point(method, dataset, nested))
        rows.append(row)
    head_notes = [
        "Cells: all-way K-shot top-1 % (mean over seeds if several) [95% percentile bootstrap CI over the test "
        f"videos, {RESAMPLES:,} resamples, rng seed 0]. Seeds: {join_values(_seed(r) for r in records)}. "
        "Per-seed values: few_shot_seeds.",
        *_significance_notes(comparisons, reference, "exact McNemar on per-video correctness pooled over the "
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
                for seed in _sort_units(data[(method, dataset)][k]):
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
                     f"seeds {join_values(_seed(r) for r in recs)}",
        lambda recs: join_values((ev.get("metrics") or {}).get("n_videos") for r in recs for ev in r["evaluations"]))
    return [headline, per_seed, tests, prov], points
