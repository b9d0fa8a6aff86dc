"""Comparisons with the reference method, the same rule in every table: paired tests on identical videos (exact
McNemar pooled over matched units, paired bootstrap for Δ), Holm over the table, seed-level tests shown beside;
the tests table and the notes that say what the marks mean (engineering.md §4)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import stats
from .outcomes import Outcome, pairable, same_videos, sort_units
from .render import ALPHA, DASH, MARK, RESAMPLES, Table, csv_num, csv_p, fmt_p, pp_ci


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


def accuracy_comparison(method, row, column, pairs: list[tuple[Outcome, Outcome]]) -> Comparison | None:
    """Pooled exact McNemar + paired bootstrap of Δ(mean accuracy over the matched units)."""
    pairs = [(a, b) for a, b in pairs if pairable(a, b)]
    if not pairs:
        return None
    pooled_a = np.concatenate([a.correct for a, _ in pairs])
    pooled_b = np.concatenate([b.correct for _, b in pairs])
    mc = stats.mcnemar_exact(pooled_a, pooled_b)
    same = same_videos([a for a, _ in pairs])
    boot = stats.paired_bootstrap_grouped([a.correct for a, _ in pairs], [b.correct for _, b in pairs],
                                          RESAMPLES, 0.95, 0, same_videos=same)
    return Comparison(method, row, column, len(pairs), boot["diff"], boot["low"], boot["high"], boot["p"],
                      "exact McNemar", mc["p"], mc["n01"], mc["n10"], mc["p"])


def unit_comparison(method, row, column, mine: dict, ref: dict, direction: bool = False) -> Comparison | None:
    """Top-1 (or, with ``direction``, direction-within-pair) of ``method`` vs the reference over the units
    (seeds, or (split, seed)) both ran: pooled exact McNemar + paired bootstrap, plus the unit-level tests."""
    common = sort_units(set(mine) & set(ref))
    get = (lambda o: o.direction) if direction else (lambda o: o)
    comp = accuracy_comparison(method, row, column, [(get(mine[u]), get(ref[u])) for u in common])
    if comp:
        both = [u for u in common if get(mine[u]) is not None and get(ref[u]) is not None]
        comp.seed = seed_level([get(mine[u]).acc for u in both], [get(ref[u]).acc for u in both])
    return comp


def apply_holm(comparisons: list[Comparison]) -> None:
    if comparisons:
        for comp, adj in zip(comparisons, stats.holm([c.p for c in comparisons])):
            comp.p_holm = adj


def seed_level(values_a: list[float], values_b: list[float]) -> dict:
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
             *seed_level_notes(comparisons, "seed/split")] if comparisons else \
        [f"No comparisons: the reference `{reference}` shares no identical evaluation videos with another method."]
    return Table(stem, title, header, rows, csv_header, csv_rows, notes)


def significance_notes(comparisons, reference, tests_text, tests_stem, unit) -> list[str]:
    if not comparisons:
        return [f"No significance marks: the reference `{reference}` has no paired evaluations "
                "(identical videos) with another method in this table."]
    return [f"{MARK}: differs from the reference `{reference}` (Holm-adjusted p < {ALPHA}), either direction: "
            f"a mark means neither better nor worse by itself, the sign of Δ in {tests_stem} says which (Holm over "
            f"the {len(comparisons)} comparisons in this table). Tests: {tests_text}. Bootstrap: {RESAMPLES:,} "
            f"resamples, rng seed 0. Δ, CIs, raw and adjusted p: {tests_stem}.",
            *seed_level_notes(comparisons, unit, tests_stem)]


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


def seed_level_notes(comparisons, unit, where: str = "") -> list[str]:
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
