"""Uncertainty and significance for benchmark tables (../shared/docs/engineering.md §4).

Why these choices:
- Bootstrap CIs are percentile intervals over resampled *videos*. Resampling rows of a 0/1 matrix with
  replacement only changes how often each distinct row is drawn, so we draw those counts from the multinomial
  it implies. That is the same distribution as drawing indices, at O(resamples) cost instead of
  O(resamples x videos), which keeps a K-400-sized table (20k videos x 10k resamples per cell) fast.
- Paired statistics resample (A, B) rows together, so both methods see the same resampled videos.
- Base-to-novel HM is computed from seed-averaged B and N (methods.md §3.2); its bootstrap resamples base and
  novel sets independently and keeps each seed's videos (or, with ``same_videos``, one draw for all seeds).
- McNemar uses scipy's exact binomial test; SciPy has no McNemar or Holm, so those are written here.
- With 3 seeds or splits an exact Wilcoxon test cannot reach p < 0.25; ``seed_tests`` says so explicitly.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy import stats as _st

DEFAULT_RESAMPLES = 10_000


def _as_matrix(columns: Sequence[Sequence[float]]) -> np.ndarray:
    """Stack equal-length 0/1 vectors as the columns of an (n, k) int64 matrix (integers keep sums exact)."""
    arrays = [np.asarray(c).ravel() for c in columns]
    lengths = {a.size for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"paired samples must have equal length, got {sorted(lengths)}")
    if 0 in lengths:
        raise ValueError("cannot bootstrap an empty sample")
    matrix = np.stack(arrays, axis=1)
    if not np.all((matrix == 0) | (matrix == 1)):
        raise ValueError("the bootstrap takes per-video correctness (0/1 or bool)")
    return matrix.astype(np.int64)


# A statistic here is a weighted mean of group accuracies, sum_g w_g * (correct_g / n_g). It is held exactly as
# integer "blocks": (rows, denominator) with value = column sums of rows / denominator, summed over blocks.
# Groups aligned on one video list (``same_videos``) share one block whose rows are integer-weighted per-video
# counts; otherwise each group is its own block, resampled independently.


def _blocks(mats: list[np.ndarray], weights: Sequence[Fraction], same_videos: bool) -> list[tuple[np.ndarray, int]]:
    if not mats:
        raise ValueError("need at least one group")
    if same_videos and len(mats) > 1:
        if len({m.shape for m in mats}) != 1:
            raise ValueError("same_videos=True needs groups of equal length, aligned by video")
        q = math.lcm(*(w.denominator for w in weights))
        rows = sum(int(w * q) * m for w, m in zip(weights, mats))
        return [(rows, mats[0].shape[0] * q)]
    return [(m * w.numerator, m.shape[0] * w.denominator) for m, w in zip(mats, weights)]


def _equal_weights(count: int) -> list[Fraction]:
    return [Fraction(1, count)] * count


def _resampled_numerators(blocks: list[tuple[np.ndarray, int]], n_resamples: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """(resampled numerators (R, k), point numerators (k,), common denominator L): statistic = numerator / L.

    Resampling rows with replacement only changes how often each distinct row is drawn, so the counts are drawn
    from Multinomial(n, row frequency): the distribution of index resampling at O(R) cost. All sums are
    integers (numpy's integer matmul is exact and does not go through BLAS), so results and ties do not depend
    on the machine; Python integers take over where int64 could overflow.
    """
    common = math.lcm(*(d for _, d in blocks))
    bound = sum(int(rows.max(initial=0)) * rows.shape[0] * (common // d) for rows, d in blocks)
    exact = object if bound >= 2 ** 62 else np.int64
    k = blocks[0][0].shape[1]
    total = np.zeros((n_resamples, k), dtype=exact)
    point = np.zeros(k, dtype=exact)
    for rows, denominator in blocks:
        n = rows.shape[0]
        distinct, counts = np.unique(rows, axis=0, return_counts=True)
        draws = rng.multinomial(n, counts / n, size=n_resamples)  # (R, m)
        factor = common // denominator
        total += (draws @ distinct).astype(exact) * factor
        point += rows.sum(axis=0).astype(exact) * factor
    return total, point, common


def _ratio(numerators, denominator: int) -> np.ndarray:
    """numerator / denominator as float64, correctly rounded (Python ints divide exactly, then round once)."""
    arr = np.asarray(numerators)
    if arr.dtype == object:
        return np.array([int(x) / denominator for x in arr.ravel()], dtype=float).reshape(arr.shape)
    if np.abs(arr).max(initial=0) < 2 ** 53 and denominator < 2 ** 53:
        return arr.astype(float) / float(denominator)
    return _ratio(arr.astype(object), denominator)


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _two_sided_p(signs: np.ndarray) -> float:
    """Bootstrap p for H0: delta = 0, as 2 * min(P(delta* <= 0), P(delta* >= 0)), capped at 1.

    Takes the exact sign of each resampled delta (from integers), so a tie is a tie on every machine.
    """
    signs = np.asarray(signs)
    return float(min(1.0, 2.0 * min(np.count_nonzero(signs <= 0), np.count_nonzero(signs >= 0)) / signs.size))


def _hm(b, n):
    """Harmonic mean 2BN/(B+N), 0 where B + N = 0 (works on arrays)."""
    b = np.asarray(b, dtype=float)
    n = np.asarray(n, dtype=float)
    total = b + n
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 2 * b * n / np.where(total > 0, total, 1), 0.0)
    return out if out.ndim else float(out)


def _hm_sign(base_a, novel_a, base_b, novel_b, lb: int, ln: int) -> np.ndarray:
    """Exact sign of HM(A) − HM(B) from integer numerators (B = base/lb, N = novel/ln for both methods).

    HM = 2·Xb·Xn / (Xb·ln + Xn·lb) in units of 1; cross-multiplying the positive denominators compares exactly.
    """
    xa, na, xb, nb = (np.asarray(v).astype(object) for v in (base_a, novel_a, base_b, novel_b))
    den_a, den_b = xa * ln + na * lb, xb * ln + nb * lb
    cross = np.sign((xa * na * den_b - xb * nb * den_a).astype(float))
    pos_a, pos_b = (xa * na > 0).astype(bool), (xb * nb > 0).astype(bool)
    zero_a, zero_b = (den_a == 0).astype(bool), (den_b == 0).astype(bool)
    return np.where(zero_a | zero_b, pos_a.astype(int) - pos_b.astype(int), cross).astype(int)


def harmonic_mean(base: float, novel: float) -> float:
    """HM = 2BN/(B+N) as used for base-to-novel (0 when both are 0)."""
    return float(_hm(base, novel))


# ---------------------------------------------------------------------------------------------- accuracy CIs


def bootstrap_ci(correct, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(accuracy, low, high): percentile bootstrap CI of the mean of a per-video 0/1 correctness vector."""
    return bootstrap_mean_ci([correct], n_resamples, confidence, seed)


def bootstrap_mean_ci(groups: Sequence, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                      seed: int = 0, same_videos: bool = False) -> tuple[float, float, float]:
    """(mean of group accuracies, low, high) for several seeds/splits, resampling videos within each group.

    ``same_videos``: the groups are aligned on one list of videos (e.g. 3 seeds on one test list), so one draw of
    videos is applied to all of them; otherwise every group is resampled independently.
    """
    mats = [_as_matrix([g]) for g in groups]
    return _weighted_ci(mats, _equal_weights(len(mats)), n_resamples, confidence, seed, same_videos)


def bootstrap_nested_mean_ci(nested: Sequence[Sequence], n_resamples: int = DEFAULT_RESAMPLES,
                             confidence: float = 0.95, seed: int = 0,
                             same_videos: bool = False) -> tuple[float, float, float]:
    """(mean over outer groups of the mean over their inner groups, low, high), e.g. mean over K of seed means.

    Why: a plot point such as few-shot "mean over K" averages seeds within each K first, so the groups carry
    unequal weights 1 / (outer × inner). ``same_videos`` as in ``bootstrap_mean_ci`` (all lists aligned).
    """
    if not nested or any(len(inner) == 0 for inner in nested):
        raise ValueError("need at least one group in every outer group")
    mats = [_as_matrix([g]) for inner in nested for g in inner]
    weights = [Fraction(1, len(nested) * len(inner)) for inner in nested for _ in inner]
    return _weighted_ci(mats, weights, n_resamples, confidence, seed, same_videos)


def _weighted_ci(mats, weights, n_resamples, confidence, seed, same_videos) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    total, point, common = _resampled_numerators(_blocks(mats, weights, same_videos), n_resamples, rng)
    low, high = _percentile(_ratio(total[:, 0], common), confidence)
    return float(_ratio(point[:1], common)[0]), low, high


def paired_bootstrap_diff(correct_a, correct_b, n_resamples: int = DEFAULT_RESAMPLES,
                          confidence: float = 0.95, seed: int = 0) -> dict:
    """Δ = acc(A) − acc(B) on the same videos: dict(diff, low, high, p), both methods resampled together."""
    return paired_bootstrap_grouped([correct_a], [correct_b], n_resamples, confidence, seed)


def paired_bootstrap_grouped(groups_a: Sequence, groups_b: Sequence, n_resamples: int = DEFAULT_RESAMPLES,
                             confidence: float = 0.95, seed: int = 0, same_videos: bool = False) -> dict:
    """Δ of the mean over groups (seeds/splits) of accuracy; group g of A is paired with group g of B.

    Videos are resampled within each group (independently per group unless ``same_videos``).
    """
    if len(groups_a) != len(groups_b):
        raise ValueError(f"{len(groups_a)} groups for A but {len(groups_b)} for B")
    mats = [_as_matrix([a, b]) for a, b in zip(groups_a, groups_b)]
    rng = np.random.default_rng(seed)
    total, point, common = _resampled_numerators(_blocks(mats, _equal_weights(len(mats)), same_videos),
                                                 n_resamples, rng)
    delta = total[:, 0] - total[:, 1]  # exact integers over ``common``
    low, high = _percentile(_ratio(delta, common), confidence)
    diff = float(_ratio(np.array([point[0] - point[1]], dtype=point.dtype), common)[0])
    return {"diff": diff, "low": low, "high": high, "p": _two_sided_p(np.sign(delta.astype(float)))}


# ---------------------------------------------------------------------------------------------- base-to-novel


def bootstrap_hm(base_correct_by_seed: Sequence, novel_correct_by_seed: Sequence,
                 n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = 0,
                 same_videos: bool = False) -> dict:
    """B, N (seed-averaged) and HM = 2BN/(B+N) with percentile CIs.

    Each seed's base and novel sets are resampled independently (they are different videos); with
    ``same_videos`` the seeds are aligned on one base list and one novel list and share each draw.
    Returns dict(base, novel, hm, base_low, base_high, novel_low, novel_high, hm_low, hm_high).
    """
    if len(base_correct_by_seed) != len(novel_correct_by_seed):
        raise ValueError("need the same seeds for base and novel")
    rng = np.random.default_rng(seed)
    out = {}
    reps = {}
    for key, groups in (("base", base_correct_by_seed), ("novel", novel_correct_by_seed)):
        mats = [_as_matrix([g]) for g in groups]
        total, point, common = _resampled_numerators(_blocks(mats, _equal_weights(len(mats)), same_videos),
                                                     n_resamples, rng)
        reps[key] = _ratio(total[:, 0], common)
        out[key] = float(_ratio(point[:1], common)[0])
        out[f"{key}_low"], out[f"{key}_high"] = _percentile(reps[key], confidence)
    out["hm"] = harmonic_mean(out["base"], out["novel"])
    out["hm_low"], out["hm_high"] = _percentile(_hm(reps["base"], reps["novel"]), confidence)
    return out


def paired_bootstrap_hm(base_a: Sequence, novel_a: Sequence, base_b: Sequence, novel_b: Sequence,
                        n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = 0,
                        same_videos: bool = False) -> dict:
    """ΔHM = HM(A) − HM(B): dict(diff, low, high, p, hm_a, hm_b).

    Seed s of A is paired with seed s of B on the same videos; base and novel are resampled independently,
    the A/B pairing is kept inside each set (engineering.md §4). The p value uses the exact sign of each
    resampled ΔHM (integer arithmetic), so ties do not depend on float rounding.
    """
    if not (len(base_a) == len(novel_a) == len(base_b) == len(novel_b)):
        raise ValueError("need the same number of seeds for A and B, base and novel")
    rng = np.random.default_rng(seed)
    reps, point, nums, denominators = {}, {}, {}, {}
    for key, ga, gb in (("base", base_a, base_b), ("novel", novel_a, novel_b)):
        mats = [_as_matrix([a, b]) for a, b in zip(ga, gb)]
        total, pt, common = _resampled_numerators(_blocks(mats, _equal_weights(len(mats)), same_videos),
                                                  n_resamples, rng)
        nums[key], denominators[key] = total, common
        reps[key] = _ratio(total, common)  # (R, 2)
        point[key] = _ratio(pt, common)  # (2,)
    hm_a = harmonic_mean(point["base"][0], point["novel"][0])
    hm_b = harmonic_mean(point["base"][1], point["novel"][1])
    deltas = _hm(reps["base"][:, 0], reps["novel"][:, 0]) - _hm(reps["base"][:, 1], reps["novel"][:, 1])
    signs = _hm_sign(nums["base"][:, 0], nums["novel"][:, 0], nums["base"][:, 1], nums["novel"][:, 1],
                     denominators["base"], denominators["novel"])
    low, high = _percentile(deltas, confidence)
    return {"diff": hm_a - hm_b, "low": low, "high": high, "p": _two_sided_p(signs), "hm_a": hm_a, "hm_b": hm_b}


# ---------------------------------------------------------------------------------------------- point metrics


def mean_class_accuracy(labels, preds) -> float:
    """Mean over the classes present in ``labels`` of per-class recall (robust to class imbalance)."""
    labels = np.asarray(labels).ravel()
    preds = np.asarray(preds).ravel()
    if labels.size != preds.size:
        raise ValueError(f"{labels.size} labels but {preds.size} predictions")
    if labels.size == 0:
        raise ValueError("mean class accuracy of an empty set")
    classes = np.unique(labels)
    return float(np.mean([np.mean(preds[labels == c] == c) for c in classes]))


# ---------------------------------------------------------------------------------------------- McNemar


def _discordant(correct_a, correct_b) -> tuple[int, int]:
    a = np.asarray(correct_a).astype(bool).ravel()
    b = np.asarray(correct_b).astype(bool).ravel()
    if a.size != b.size:
        raise ValueError(f"paired samples must have equal length, got {a.size} and {b.size}")
    return int(np.sum(a & ~b)), int(np.sum(~a & b))


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact two-sided McNemar: dict(n01 = A right/B wrong, n10 = A wrong/B right, p); p = 1 without discordance."""
    n01, n10 = _discordant(correct_a, correct_b)
    p = 1.0 if n01 + n10 == 0 else float(_st.binomtest(n01, n01 + n10, p=0.5).pvalue)
    return {"n01": n01, "n10": n10, "p": p}


def mcnemar_chi2_cc(correct_a, correct_b) -> dict:
    """Continuity-corrected χ² McNemar: dict(n01, n10, statistic, p); max(0, |n01−n10|−1)² / (n01+n10)."""
    n01, n10 = _discordant(correct_a, correct_b)
    if n01 + n10 == 0:
        return {"n01": n01, "n10": n10, "statistic": 0.0, "p": 1.0}
    stat = max(0, abs(n01 - n10) - 1) ** 2 / (n01 + n10)
    return {"n01": n01, "n10": n10, "statistic": float(stat), "p": float(_st.chi2.sf(stat, df=1))}


# ---------------------------------------------------------------------------------------------- McNemar power
#
# How many test videos a paired comparison needs. Model: n videos, each independently falls in A-right/B-wrong
# with probability p01 and A-wrong/B-right with p10, so accuracy(A) − accuracy(B) = p01 − p10 exactly. Default
# assumption ("independent errors"): p01 = pA·(1 − pB), p10 = pB·(1 − pA). Real classifiers tend to fail on
# the same hard videos, which means fewer discordant pairs and *more* power, so this default is conservative;
# pass ``discordant`` (the measured rate of videos where exactly one of the two is right) to use that instead.
# The power is exact: the number of discordant pairs D ~ Binomial(n, p01 + p10), and given D the test rejects
# when n01 falls in the two-sided exact binomial(D, 1/2) region with p < alpha (the tables' rule).

POWER = 0.8
_DIFFERENCE_TOL = 1e-6


def _cells(acc_a: float, acc_b: float, discordant: float | None) -> tuple[float, float]:
    """(p01, p10): probability that only A / only B is right on a video."""
    if not (0 <= acc_a <= 1 and 0 <= acc_b <= 1):
        raise ValueError(f"accuracies must be in [0, 1], got {acc_a} and {acc_b}")
    d = acc_a - acc_b
    if discordant is None:
        return acc_a * (1 - acc_b), acc_b * (1 - acc_a)
    if not abs(d) <= discordant <= 1:
        raise ValueError(f"a discordant rate must lie in [|pA − pB|, 1], got {discordant} for a difference {d}")
    return (discordant + d) / 2, (discordant - d) / 2


def mcnemar_critical(discordant_pairs, alpha: float = 0.05) -> np.ndarray:
    """Largest k with exact two-sided binomial(D, 1/2) p = 2·P(X ≤ k) < alpha, per D (−1: D cannot reject)."""
    d = np.asarray(discordant_pairs, dtype=np.int64)
    k = _st.binom.ppf(alpha / 2, d, 0.5)
    k = np.where(np.isnan(k), -1, k).astype(np.int64)
    k = np.where(2 * _st.binom.cdf(k, d, 0.5) < alpha, k, k - 1)
    return np.where(2 * _st.binom.cdf(k + 1, d, 0.5) < alpha, k + 1, k)  # guard against ppf rounding


def mcnemar_power(n: int, acc_a: float, acc_b: float, alpha: float = 0.05,
                  discordant: float | None = None) -> float:
    """Exact power of the two-sided exact McNemar test at ``alpha`` on ``n`` paired videos (model above).

    For n above 2,000 the sum over D skips the Binomial(n, ·) tails beyond 12 standard deviations (mass < 1e-30).
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    p01, p10 = _cells(acc_a, acc_b, discordant)
    pd = p01 + p10
    if n == 0 or pd <= 0:
        return 0.0
    lo, hi = 0, n
    if n > 2000:
        spread = 12 * math.sqrt(n * pd * (1 - pd)) + 12
        lo, hi = max(0, int(math.floor(n * pd - spread))), min(n, int(math.ceil(n * pd + spread)))
    d = np.arange(lo, hi + 1)
    k = mcnemar_critical(d, alpha)
    q = p01 / pd
    reject = _st.binom.cdf(k, d, q) + _st.binom.sf(d - k - 1, d, q)
    return float(min(1.0, np.sum(_st.binom.pmf(d, n, pd) * reject)))


def mcnemar_power_normal(n: int, acc_a: float, acc_b: float, alpha: float = 0.05,
                         discordant: float | None = None) -> float:
    """Normal approximation of the same power (Connor 1987): Φ((|δ|√n − z·√pd) / √(pd − δ²)); a cross-check."""
    p01, p10 = _cells(acc_a, acc_b, discordant)
    pd, d = p01 + p10, p01 - p10
    if pd <= 0 or pd - d * d <= 0:
        return 0.0
    z = _st.norm.ppf(1 - alpha / 2)
    return float(_st.norm.cdf((abs(d) * math.sqrt(n) - z * math.sqrt(pd)) / math.sqrt(pd - d * d)))


def min_detectable_difference(n: int, base: float, power: float = POWER, alpha: float = 0.05,
                              discordant: float | None = None) -> float | None:
    """Smallest gain δ over ``base`` accuracy (A at base + δ vs B at base) detected with ``power`` on n videos.

    Bisection on δ in (0, 1 − base] to 1e-6 (the power rises with δ); None when even δ = 1 − base (or the
    discordant rate, if given) falls short. Two-sided test, so a loss of δ from base + δ has the same power.
    """
    top = 1.0 - base if discordant is None else min(1.0 - base, discordant)
    if top <= 0 or mcnemar_power(n, base + top, base, alpha, discordant) < power:
        return None
    lo, hi = 0.0, top
    while hi - lo > _DIFFERENCE_TOL:
        mid = (lo + hi) / 2
        if mcnemar_power(n, base + mid, base, alpha, discordant) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def n_for_difference(difference: float, base: float, power: float = POWER, alpha: float = 0.05,
                     discordant: float | None = None, max_n: int = 10_000_000) -> int | None:
    """Smallest n whose exact power reaches ``power`` for A at base + difference vs B at base.

    Doubling then bisection on n. That relies on the power rising with n: given D the exact test is
    saw-toothed, but D itself is random, which smooths it out (tests check monotonicity over a range of n).
    None if ``max_n`` videos are not enough.
    """
    if not 0 < difference <= 1 - base:
        raise ValueError(f"need 0 < difference <= 1 − base, got difference {difference} at base {base}")

    def enough(n: int) -> bool:
        return mcnemar_power(n, base + difference, base, alpha, discordant) >= power

    hi = 1
    while not enough(hi):
        if hi >= max_n:
            return None
        hi = min(2 * hi, max_n)
    lo = hi // 2  # not enough (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


# ---------------------------------------------------------------------------------------------- seeds/splits


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided exact Wilcoxon signed-rank p with n non-zero pairs: 2 / 2^n (0.25 for n = 3)."""
    return 1.0 if n < 1 else min(1.0, 2.0 / 2 ** n)


def seed_tests(values_a: Sequence[float], values_b: Sequence[float], alpha: float = 0.05) -> dict:
    """Paired t-test and exact Wilcoxon over per-seed (or per-split) values of two methods.

    Returns dict(ttest_p, wilcoxon_p, n, min_wilcoxon_p, powerless, note). ``powerless`` is True when even a
    perfect result could not give Wilcoxon p < alpha (n ≤ 5 at 0.05), so "not significant" means "not testable".
    The t-test p is NaN (not scipy's 0) when all differences are equal: the test is undefined there.
    """
    a = np.asarray(values_a, dtype=float).ravel()
    b = np.asarray(values_b, dtype=float).ravel()
    if a.size != b.size:
        raise ValueError(f"paired values must have equal length, got {a.size} and {b.size}")
    n = int(a.size)
    d = a - b
    scale = max(1.0, float(np.max(np.abs(d)))) if n else 1.0
    constant = n > 0 and float(np.ptp(d)) <= 1e-12 * scale
    if n < 2:
        t_p = w_p = float("nan")
    else:
        if constant and abs(float(d[0])) > 1e-12 * scale:
            t_p = float("nan")
        elif constant:
            t_p = 1.0
        else:
            t_p = float(_st.ttest_rel(a, b).pvalue)
        d_clean = np.where(np.abs(d) <= 1e-12 * scale, 0.0, d)
        if not np.any(d_clean):
            w_p = 1.0
        else:
            w_p = float(_st.wilcoxon(d_clean, method="exact").pvalue)
    floor = min_wilcoxon_p(n)
    powerless = floor >= alpha
    if n < 2:
        note = f"{n} pair(s): no test possible"
    elif powerless:
        note = (f"{n} pairs: the exact two-sided Wilcoxon p cannot fall below {floor:.3g}, "
                f"so it cannot show significance at {alpha:g}")
    else:
        note = f"{n} pairs: smallest possible Wilcoxon p {floor:.3g}"
    if constant and n >= 2 and np.isnan(t_p):
        note += "; t-test undefined (all differences equal)"
    return {"ttest_p": t_p, "wilcoxon_p": w_p, "n": n, "min_wilcoxon_p": floor, "powerless": bool(powerless),
            "note": note}


# ---------------------------------------------------------------------------------------------- Holm


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values in input order: k-th smallest × (m − k + 1), made monotone, capped at 1."""
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("Holm needs p-values in [0, 1] (no NaN)")
    m = p.size
    adjusted = np.empty(m)
    running = 0.0
    for k, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return [float(x) for x in adjusted]
