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

from typing import Sequence

import numpy as np
from scipy import stats as _st

DEFAULT_RESAMPLES = 10_000


def _as_matrix(columns: Sequence[Sequence[float]]) -> np.ndarray:
    """Stack equal-length 1-D arrays as the columns of an (n, k) float matrix."""
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    lengths = {a.size for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"paired samples must have equal length, got {sorted(lengths)}")
    if 0 in lengths:
        raise ValueError("cannot bootstrap an empty sample")
    return np.stack(arrays, axis=1)


def _resampled_means(matrix: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Column means of ``n_resamples`` bootstrap resamples of the rows of ``matrix``: shape (R, k).

    Equivalent in distribution to ``matrix[rng.integers(0, n, (R, n))].mean(axis=1)``: the number of times each
    distinct row is drawn is Multinomial(n, row frequency).
    """
    n = matrix.shape[0]
    rows, counts = np.unique(matrix, axis=0, return_counts=True)
    draws = rng.multinomial(n, counts / n, size=n_resamples)  # (R, m)
    return draws @ rows / n


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _two_sided_p(deltas: np.ndarray) -> float:
    """Bootstrap p for H0: delta = 0, as 2 * min(P(delta* <= 0), P(delta* >= 0)), capped at 1."""
    return float(min(1.0, 2.0 * min(np.mean(deltas <= 0), np.mean(deltas >= 0))))


def _hm(b, n):
    """Harmonic mean 2BN/(B+N), 0 where B + N = 0 (works on arrays)."""
    b = np.asarray(b, dtype=float)
    n = np.asarray(n, dtype=float)
    total = b + n
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 2 * b * n / np.where(total > 0, total, 1), 0.0)
    return out if out.ndim else float(out)


def harmonic_mean(base: float, novel: float) -> float:
    """HM = 2BN/(B+N) as used for base-to-novel (0 when both are 0)."""
    return float(_hm(base, novel))


# ---------------------------------------------------------------------------------------------- accuracy CIs


def bootstrap_ci(correct, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """(accuracy, low, high): percentile bootstrap CI of the mean of a per-video 0/1 correctness vector."""
    matrix = _as_matrix([correct])
    rng = np.random.default_rng(seed)
    means = _resampled_means(matrix, n_resamples, rng)[:, 0]
    low, high = _percentile(means, confidence)
    return float(matrix[:, 0].mean()), low, high


def bootstrap_mean_ci(groups: Sequence, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                      seed: int = 0, same_videos: bool = False) -> tuple[float, float, float]:
    """(mean of group accuracies, low, high) for several seeds/splits, resampling videos within each group.

    ``same_videos``: the groups are aligned on one list of videos (e.g. 3 seeds on one test list), so one draw of
    videos is applied to all of them; otherwise every group is resampled independently.
    """
    mats = _collapse([_as_matrix([g]) for g in groups], same_videos)
    rng = np.random.default_rng(seed)
    reps = np.mean([_resampled_means(m, n_resamples, rng)[:, 0] for m in mats], axis=0)
    low, high = _percentile(reps, confidence)
    return float(np.mean([m[:, 0].mean() for m in mats])), low, high


def _collapse(mats: list[np.ndarray], same_videos: bool) -> list[np.ndarray]:
    """With aligned groups, average them per video: mean over groups of means == mean over videos of means."""
    if not mats:
        raise ValueError("need at least one group")
    if not same_videos or len(mats) == 1:
        return mats
    if len({m.shape for m in mats}) != 1:
        raise ValueError("same_videos=True needs groups of equal length, aligned by video")
    return [np.mean(np.stack(mats), axis=0)]


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
    mats = _collapse([_as_matrix([a, b]) for a, b in zip(groups_a, groups_b)], same_videos)
    rng = np.random.default_rng(seed)
    reps = np.mean([_resampled_means(m, n_resamples, rng) for m in mats], axis=0)  # (R, 2)
    deltas = reps[:, 0] - reps[:, 1]
    low, high = _percentile(deltas, confidence)
    diff = float(np.mean([m[:, 0].mean() - m[:, 1].mean() for m in mats]))
    return {"diff": diff, "low": low, "high": high, "p": _two_sided_p(deltas)}


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
        mats = _collapse([_as_matrix([g]) for g in groups], same_videos)
        reps[key] = np.mean([_resampled_means(m, n_resamples, rng)[:, 0] for m in mats], axis=0)
        out[key] = float(np.mean([m[:, 0].mean() for m in mats]))
        out[f"{key}_low"], out[f"{key}_high"] = _percentile(reps[key], confidence)
    out["hm"] = harmonic_mean(out["base"], out["novel"])
    out["hm_low"], out["hm_high"] = _percentile(_hm(reps["base"], reps["novel"]), confidence)
    return out


def paired_bootstrap_hm(base_a: Sequence, novel_a: Sequence, base_b: Sequence, novel_b: Sequence,
                        n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = 0,
                        same_videos: bool = False) -> dict:
    """ΔHM = HM(A) − HM(B): dict(diff, low, high, p, hm_a, hm_b).

    Seed s of A is paired with seed s of B on the same videos; base and novel are resampled independently,
    the A/B pairing is kept inside each set (engineering.md §4).
    """
    if not (len(base_a) == len(novel_a) == len(base_b) == len(novel_b)):
        raise ValueError("need the same number of seeds for A and B, base and novel")
    rng = np.random.default_rng(seed)
    reps, point = {}, {}
    for key, ga, gb in (("base", base_a, base_b), ("novel", novel_a, novel_b)):
        mats = _collapse([_as_matrix([a, b]) for a, b in zip(ga, gb)], same_videos)
        reps[key] = np.mean([_resampled_means(m, n_resamples, rng) for m in mats], axis=0)  # (R, 2)
        point[key] = np.mean([m.mean(axis=0) for m in mats], axis=0)  # (2,)
    hm_a = harmonic_mean(point["base"][0], point["novel"][0])
    hm_b = harmonic_mean(point["base"][1], point["novel"][1])
    deltas = _hm(reps["base"][:, 0], reps["novel"][:, 0]) - _hm(reps["base"][:, 1], reps["novel"][:, 1])
    low, high = _percentile(deltas, confidence)
    return {"diff": hm_a - hm_b, "low": low, "high": high, "p": _two_sided_p(deltas), "hm_a": hm_a, "hm_b": hm_b}


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
