"""harness.reports.stats against hand-computed values, brute force and scipy reference implementations."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as st

from harness.reports import stats


def _binary(n: int, k: int, seed: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return out


def _pairs(n01: int, n10: int, n11: int = 0, n00: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * n01 + [0] * n10 + [1] * n11 + [0] * n00, dtype=bool)
    b = np.array([0] * n01 + [1] * n10 + [1] * n11 + [0] * n00, dtype=bool)
    return a, b


# --------------------------------------------------------------------------------------------- McNemar


def test_mcnemar_exact_reference_value():
    a, b = _pairs(41, 51, n11=800, n00=638)
    out = stats.mcnemar_exact(a, b)
    assert (out["n01"], out["n10"]) == (41, 51)
    assert out["p"] == pytest.approx(0.348, abs=5e-4)  # engineering.md §4 demo


def test_mcnemar_exact_matches_brute_force_enumeration():
    # 9 discordant pairs, 2 won by A. Under H0 each of the 2^9 win/loss patterns is equally likely; the two-sided
    # exact p sums the probability of every pattern whose count is at most as likely as the observed one.
    n01, n10 = 2, 7
    n = n01 + n10
    counts = [sum(pattern) for pattern in itertools.product((0, 1), repeat=n)]
    prob = {k: counts.count(k) / 2 ** n for k in range(n + 1)}
    expected = sum(prob[k] for k in range(n + 1) if prob[k] <= prob[n01] + 1e-15)
    assert expected == pytest.approx(92 / 512)  # by hand: 2·(1 + 9 + 36)/512
    a, b = _pairs(n01, n10, n11=5, n00=3)
    assert stats.mcnemar_exact(a, b)["p"] == pytest.approx(expected, abs=1e-12)
    assert stats.mcnemar_exact(b, a)["p"] == pytest.approx(expected, abs=1e-12)  # symmetric


def test_mcnemar_without_discordant_pairs_is_one():
    a, b = _pairs(0, 0, n11=10, n00=5)
    assert stats.mcnemar_exact(a, b) == {"n01": 0, "n10": 0, "p": 1.0}
    assert stats.mcnemar_chi2_cc(a, b)["p"] == 1.0


def test_mcnemar_chi2_cc_hand_formula():
    a, b = _pairs(41, 51)
    out = stats.mcnemar_chi2_cc(a, b)
    assert out["statistic"] == pytest.approx((10 - 1) ** 2 / 92)
    assert out["p"] == pytest.approx(0.348, abs=5e-4)
    a, b = _pairs(30, 10)
    assert stats.mcnemar_chi2_cc(a, b)["p"] == pytest.approx(math.erfc(math.sqrt(19 ** 2 / 40 / 2)))


# --------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_matches_scipy_percentile():
    correct = _binary(1530, 871, seed=3)
    est, low, high = stats.bootstrap_ci(correct, n_resamples=10_000, seed=0)
    assert est == pytest.approx(871 / 1530)
    ref = st.bootstrap((correct.astype(float),), np.mean, n_resamples=10_000, method="percentile",
                       rng=np.random.default_rng(1)).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.004)
    assert high == pytest.approx(ref.high, abs=0.004)
    # and the normal approximation of a binomial proportion, as a third opinion
    se = math.sqrt(est * (1 - est) / 1530)
    assert low == pytest.approx(est - 1.96 * se, abs=0.004)
    assert high == pytest.approx(est + 1.96 * se, abs=0.004)


def test_bootstrap_matches_explicit_index_resampling():
    """The multinomial shortcut has the distribution of plain index resampling."""
    correct = _binary(200, 130, seed=5).astype(float)
    rng = np.random.default_rng(11)
    means = correct[rng.integers(0, 200, size=(20_000, 200))].mean(axis=1)
    _, low, high = stats.bootstrap_ci(correct, n_resamples=20_000, seed=0)
    assert low == pytest.approx(np.quantile(means, 0.025), abs=0.006)
    assert high == pytest.approx(np.quantile(means, 0.975), abs=0.006)


def test_bootstrap_is_deterministic_and_seeded():
    correct = _binary(500, 300, seed=1)
    assert stats.bootstrap_ci(correct, seed=0) == stats.bootstrap_ci(correct, seed=0)
    assert stats.bootstrap_ci(correct, seed=0) != stats.bootstrap_ci(correct, seed=1)


def test_bootstrap_confidence_changes_width():
    correct = _binary(500, 300, seed=1)
    _, l95, h95 = stats.bootstrap_ci(correct, confidence=0.95)
    _, l50, h50 = stats.bootstrap_ci(correct, confidence=0.50)
    assert l95 < l50 < 0.6 < h50 < h95


def test_paired_bootstrap_matches_scipy_paired():
    a = _binary(1530, 871, seed=3)
    b = a.copy()
    flip = np.random.default_rng(9).choice(1530, size=120, replace=False)
    b[flip] = ~b[flip]
    out = stats.paired_bootstrap_diff(a, b, n_resamples=10_000, seed=0)
    assert out["diff"] == pytest.approx(a.mean() - b.mean())
    ref = st.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                       paired=True, vectorized=True, n_resamples=10_000, method="percentile",
                       rng=np.random.default_rng(2)).confidence_interval
    assert out["low"] == pytest.approx(ref.low, abs=0.003)
    assert out["high"] == pytest.approx(ref.high, abs=0.003)


def test_paired_bootstrap_p_value():
    a, b = _pairs(60, 20, n11=300, n00=120)  # Δ = +8 pp on 500 videos: clearly positive
    out = stats.paired_bootstrap_diff(a, b)
    assert out["diff"] == pytest.approx(0.08)
    assert out["p"] < 0.001 and out["low"] > 0
    same = stats.paired_bootstrap_diff(a, a)
    assert same["diff"] == 0 and same["p"] == 1.0 and same["low"] == same["high"] == 0
    # independent check of p = 2·min(P(Δ*≤0), P(Δ*≥0)) with index resampling
    a, b = _pairs(30, 22, n11=100, n00=48)
    rng = np.random.default_rng(4)
    idx = rng.integers(0, a.size, size=(20_000, a.size))
    deltas = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    expected = 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0))
    assert stats.paired_bootstrap_diff(a, b, n_resamples=20_000)["p"] == pytest.approx(expected, abs=0.02)


def test_paired_bootstrap_rejects_unequal_lengths():
    with pytest.raises(ValueError):
        stats.paired_bootstrap_diff([1, 0, 1], [1, 0])


# --------------------------------------------------------------------------------------------- HM


def test_bootstrap_hm_point_values_by_hand():
    base = [_binary(100, k, seed=s) for s, k in enumerate((70, 72, 74))]
    novel = [_binary(80, k, seed=10 + s) for s, k in enumerate((50, 52, 60))]
    out = stats.bootstrap_hm(base, novel)
    b, n = 0.72, (0.625 + 0.65 + 0.75) / 3
    assert out["base"] == pytest.approx(b)
    assert out["novel"] == pytest.approx(n)
    assert out["hm"] == pytest.approx(2 * b * n / (b + n))
    assert out["hm_low"] < out["hm"] < out["hm_high"]
    assert out["base_low"] < b < out["base_high"] and out["novel_low"] < n < out["novel_high"]


def test_bootstrap_hm_matches_brute_force_loop():
    base = [_binary(100, k, seed=s) for s, k in enumerate((70, 72, 74))]
    novel = [_binary(80, k, seed=10 + s) for s, k in enumerate((50, 52, 60))]
    rng = np.random.default_rng(7)
    hms = []
    for _ in range(5000):  # independent resampling within each seed's base and novel sets
        bs = np.mean([x[rng.integers(0, x.size, x.size)].mean() for x in base])
        ns = np.mean([x[rng.integers(0, x.size, x.size)].mean() for x in novel])
        hms.append(2 * bs * ns / (bs + ns))
    out = stats.bootstrap_hm(base, novel, n_resamples=10_000)
    assert out["hm_low"] == pytest.approx(np.quantile(hms, 0.025), abs=0.006)
    assert out["hm_high"] == pytest.approx(np.quantile(hms, 0.975), abs=0.006)


def test_bootstrap_hm_same_videos_shares_draws():
    base, novel = _binary(100, 70, seed=1), _binary(80, 50, seed=2)
    one = stats.bootstrap_hm([base], [novel])
    shared = stats.bootstrap_hm([base] * 3, [novel] * 3, same_videos=True)
    independent = stats.bootstrap_hm([base] * 3, [novel] * 3)
    assert shared == one  # three identical seeds on one list carry no more information than one
    assert independent["hm_high"] - independent["hm_low"] < one["hm_high"] - one["hm_low"]


def test_paired_bootstrap_hm():
    base_a, novel_a = _binary(100, 80, seed=1), _binary(80, 60, seed=2)
    base_b, novel_b = _binary(100, 60, seed=3), _binary(80, 30, seed=4)
    out = stats.paired_bootstrap_hm([base_a], [novel_a], [base_b], [novel_b])
    hm = lambda b, n: 2 * b * n / (b + n)  # noqa: E731
    assert out["hm_a"] == pytest.approx(hm(0.8, 0.75))
    assert out["diff"] == pytest.approx(hm(0.8, 0.75) - hm(0.6, 0.375))
    assert out["low"] < out["diff"] < out["high"] and out["p"] < 0.001
    same = stats.paired_bootstrap_hm([base_a], [novel_a], [base_a], [novel_a])
    assert same["diff"] == 0 and same["p"] == 1.0


def test_harmonic_mean_zero():
    assert stats.harmonic_mean(0, 0) == 0
    assert stats.harmonic_mean(0.5, 0.5) == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------- point metrics


def test_mean_class_accuracy():
    assert stats.mean_class_accuracy([0, 0, 0, 1], [0, 0, 1, 0]) == pytest.approx((2 / 3 + 0) / 2)
    assert stats.mean_class_accuracy([2, 2, 5], [2, 2, 5]) == 1.0
    with pytest.raises(ValueError):
        stats.mean_class_accuracy([0, 1], [0])


# --------------------------------------------------------------------------------------------- seeds


def test_min_wilcoxon_p():
    assert stats.min_wilcoxon_p(3) == 0.25
    assert stats.min_wilcoxon_p(5) == 0.0625
    assert stats.min_wilcoxon_p(6) == pytest.approx(0.03125)


def test_seed_tests_three_pairs_are_powerless():
    out = stats.seed_tests([0.70, 0.72, 0.74], [0.60, 0.61, 0.65])
    assert out["n"] == 3 and out["wilcoxon_p"] == pytest.approx(0.25)  # smallest possible with 3 pairs
    assert out["min_wilcoxon_p"] == 0.25 and out["powerless"] is True
    assert "0.25" in out["note"]
    d = np.array([0.10, 0.11, 0.09])
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))  # hand formula of the paired t statistic
    assert t == pytest.approx(17.320508, rel=1e-6)
    assert out["ttest_p"] == pytest.approx(2 * st.t.sf(abs(t), df=2))


def test_seed_tests_with_enough_pairs_has_power():
    a = [0.70, 0.72, 0.74, 0.71, 0.73, 0.75, 0.69, 0.72, 0.70, 0.74]
    b = [0.60, 0.61, 0.65, 0.66, 0.62, 0.64, 0.63, 0.60, 0.61, 0.65]
    out = stats.seed_tests(a, b)
    assert out["powerless"] is False
    assert out["wilcoxon_p"] == pytest.approx(2 / 2 ** 10)
    assert out["wilcoxon_p"] < 0.05


def test_seed_tests_degenerate_differences():
    out = stats.seed_tests([0.7, 0.8, 0.9], [0.6, 0.7, 0.8])  # constant difference: t undefined, not p = 0
    assert math.isnan(out["ttest_p"])
    same = stats.seed_tests([0.7, 0.8], [0.7, 0.8])
    assert same["ttest_p"] == 1.0 and same["wilcoxon_p"] == 1.0


# --------------------------------------------------------------------------------------------- Holm


def test_holm_reference_example():
    assert stats.holm([.001, .012, .03, .04, .2]) == pytest.approx([.005, .048, .09, .09, .2])


def test_holm_order_monotone_and_capped():
    out = stats.holm([0.2, 0.001, 0.04, 0.03, 0.012])  # same values, shuffled: results follow their inputs
    assert out == pytest.approx([.2, .005, .09, .09, .048])
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0]
    assert stats.holm([]) == []
    with pytest.raises(ValueError):
        stats.holm([0.1, float("nan")])


# --------------------------------------------------------------------------------------------- exact ties


def _exact_bootstrap_tie_p(a, b) -> float:
    """2·min(P(Δ*≤0), P(Δ*≥0)) of the full bootstrap distribution, enumerated with exact fractions."""
    from fractions import Fraction

    n = len(a)
    p_le = p_ge = Fraction(0)
    for idx in itertools.product(range(n), repeat=n):
        delta = sum(int(a[i]) - int(b[i]) for i in idx)
        p_le += Fraction(1, n ** n) * (delta <= 0)
        p_ge += Fraction(1, n ** n) * (delta >= 0)
    return float(min(1, 2 * min(p_le, p_ge)))


def test_paired_bootstrap_p_counts_ties_exactly():
    # 6 videos, 3 seeds aligned on them: per-video thirds, so many resamples tie at Δ* = 0 exactly.
    a_seeds = [[1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 0], [0, 1, 1, 0, 1, 0]]
    b_seeds = [[0, 1, 1, 0, 1, 0], [1, 0, 1, 0, 1, 1], [1, 1, 0, 0, 0, 0]]
    collapsed_a = [sum(col) for col in zip(*a_seeds)]  # integer per-video counts
    collapsed_b = [sum(col) for col in zip(*b_seeds)]
    expected = _exact_bootstrap_tie_p(collapsed_a, collapsed_b)
    out = stats.paired_bootstrap_grouped(a_seeds, b_seeds, n_resamples=200_000, same_videos=True)
    assert out["p"] == pytest.approx(expected, abs=0.01)
    assert out["diff"] == 0  # exactly, not 1e-17


def test_hm_sign_matches_fractions():
    from fractions import Fraction

    rng = np.random.default_rng(0)
    lb, ln = 3 * 96, 3 * 80
    xa, na, xb, nb = (rng.integers(0, hi + 1, size=2000) for hi in (lb, ln, lb, ln))
    xa[:5], na[:5], xb[5:10], nb[10:15] = 0, 0, 0, 0
    xb[20:40], nb[20:40] = xa[20:40], na[20:40]  # exact ties
    xb[40:60], nb[40:60] = na[40:60] * lb // ln, xa[40:60] * ln // lb  # near-ties

    def hm(x, y):
        b, n = Fraction(int(x), lb), Fraction(int(y), ln)
        return 0 if b + n == 0 else 2 * b * n / (b + n)

    expected = [int(np.sign(float(hm(*p) - hm(*q)))) for p, q in zip(zip(xa, na), zip(xb, nb))]
    assert stats._hm_sign(xa, na, xb, nb, lb, ln).tolist() == expected


def test_bootstrap_results_do_not_depend_on_group_order_or_dtype():
    seeds = [_binary(90, k, seed=s) for s, k in enumerate((40, 50, 61))]
    first = stats.bootstrap_mean_ci(seeds, same_videos=True)
    assert stats.bootstrap_mean_ci(seeds[::-1], same_videos=True) == first
    assert stats.bootstrap_mean_ci([s.astype(float) for s in seeds], same_videos=True) == first


def test_bootstrap_nested_mean_weights_inner_groups():
    k2 = [_binary(60, 30, seed=1), _binary(60, 36, seed=2)]  # K=2: 2 seeds
    k4 = [_binary(60, 48, seed=3)]  # K=4: 1 seed
    est, low, high = stats.bootstrap_nested_mean_ci([k2, k4], same_videos=True)
    assert est == pytest.approx(((30 + 36) / 120 + 48 / 60) / 2)  # mean over K of seed means, not of all 3
    assert low < est < high
    flat = stats.bootstrap_mean_ci(k2 + k4, same_videos=True)[0]
    assert flat == pytest.approx((30 + 36 + 48) / 180) and flat != pytest.approx(est)
    one = stats.bootstrap_nested_mean_ci([[k4[0]]])
    assert one == stats.bootstrap_ci(k4[0])


def test_bootstrap_rejects_non_binary_input():
    with pytest.raises(ValueError, match="0/1"):
        stats.bootstrap_ci([0.5, 1.0])


# --------------------------------------------------------------------------------------------- McNemar power


def test_mcnemar_critical_matches_scipy_binomtest():
    for d in range(1, 70):
        k = int(stats.mcnemar_critical(d))
        rejected = [j for j in range(d + 1) if st.binomtest(j, d, 0.5).pvalue < 0.05]
        assert rejected == ([j for j in range(d + 1) if j <= k or j >= d - k] if k >= 0 else []), d
    assert stats.mcnemar_critical([0, 5, 6]).tolist() == [-1, -1, 0]  # 2/2^6 < 0.05 ≤ 2/2^5


def test_mcnemar_power_matches_brute_force_enumeration():
    """Enumerate every (n01, n10) of n = 25 videos under the trinomial model and run scipy's test on each."""
    n, acc_a, acc_b = 25, 0.8, 0.45
    p01, p10 = acc_a * (1 - acc_b), acc_b * (1 - acc_a)
    expected = 0.0
    for n01 in range(n + 1):
        for n10 in range(n + 1 - n01):
            prob = math.comb(n, n01) * math.comb(n - n01, n10) * p01 ** n01 * p10 ** n10 * \
                (1 - p01 - p10) ** (n - n01 - n10)
            if n01 + n10 and st.binomtest(n01, n01 + n10, 0.5).pvalue < 0.05:
                expected += prob
    assert stats.mcnemar_power(n, acc_a, acc_b) == pytest.approx(expected, rel=1e-9)
    assert stats.mcnemar_power(n, acc_b, acc_a) == pytest.approx(expected, rel=1e-9)  # two-sided: symmetric


def test_mcnemar_power_at_no_difference_is_at_most_alpha():
    for n in (10, 96, 500, 5000):
        for acc in (0.1, 0.5, 0.9):
            power = stats.mcnemar_power(n, acc, acc)
            assert power <= 0.05
    assert stats.mcnemar_power(5000, 0.5, 0.5) > 0.04  # and the exact test is not far below alpha


def test_mcnemar_power_close_to_normal_approximation_and_monotone_in_n():
    for n, a, b in ((400, 0.6, 0.5), (1000, 0.35, 0.3), (3000, 0.72, 0.7), (288, 0.7, 0.55)):
        assert stats.mcnemar_power(n, a, b) == pytest.approx(stats.mcnemar_power_normal(n, a, b), abs=0.04)
    powers = [stats.mcnemar_power(n, 0.6, 0.5) for n in range(20, 700, 3)]
    assert all(y >= x for x, y in zip(powers, powers[1:]))
    assert stats.mcnemar_power(0, 0.6, 0.5) == 0.0


def test_fewer_discordant_pairs_mean_more_power():
    independent = stats.mcnemar_power(300, 0.6, 0.5)  # discordant rate 0.6·0.5 + 0.5·0.4 = 0.5
    assert stats.mcnemar_power(300, 0.6, 0.5, discordant=0.5) == pytest.approx(independent)
    assert stats.mcnemar_power(300, 0.6, 0.5, discordant=0.2) > independent
    with pytest.raises(ValueError, match="discordant"):
        stats.mcnemar_power(300, 0.6, 0.5, discordant=0.05)


def test_min_detectable_difference():
    for n, base in ((96, 0.5), (288, 0.2), (1530, 0.6)):
        mdd = stats.min_detectable_difference(n, base)
        assert stats.mcnemar_power(n, base + mdd, base) >= 0.8 > stats.mcnemar_power(n, base + mdd - 1e-4, base)
        # normal approximation solved independently for δ (brentq on Connor's formula)
        from scipy.optimize import brentq
        approx = brentq(lambda d: stats.mcnemar_power_normal(n, base + d, base) - 0.8, 1e-6, 1 - base)
        assert mdd == pytest.approx(approx, abs=0.015)
    mdds = [stats.min_detectable_difference(n, 0.5) for n in (50, 100, 200, 400, 800, 1600)]
    assert all(y < x for x, y in zip(mdds, mdds[1:]))
    assert stats.min_detectable_difference(10, 0.95) is None  # cannot reach 80 % with 5 points of headroom


def test_n_for_ten_point_difference():
    n = stats.n_for_difference(0.10, 0.5)
    assert stats.mcnemar_power(n, 0.6, 0.5) >= 0.8 > stats.mcnemar_power(n - 1, 0.6, 0.5)
    pd = 0.6 * 0.5 + 0.5 * 0.4  # Connor (1987): n = (z_a·√pd + z_b·√(pd − δ²))² / δ² ≈ 390
    connor = (st.norm.ppf(0.975) * math.sqrt(pd) + st.norm.ppf(0.8) * math.sqrt(pd - 0.01)) ** 2 / 0.01
    assert connor == pytest.approx(390.1, abs=0.1)
    assert n == pytest.approx(connor, rel=0.08)
    assert stats.n_for_difference(0.10, 0.2) < n  # fewer discordant pairs at low accuracy
    assert stats.n_for_difference(0.10, 0.5, discordant=0.3) < n
    with pytest.raises(ValueError):
        stats.n_for_difference(0.2, 0.9)
