"""harness.stats against direct computations: pass@k by enumeration, Wilson by hand,
the bootstrap's coverage by simulation, and explicit answers on degenerate input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness import stats


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_is_the_share_of_k_subsets_holding_a_pass(n: int) -> None:
    for c in range(n + 1):
        samples = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(samples, k))
            direct = sum(any(s) for s in subsets) / len(subsets)
            assert stats.pass_at_k(n, c, k) == pytest.approx(direct, abs=1e-12), (n, c, k)


def test_pass_at_k_is_exact_for_large_n() -> None:
    # 1 - C(999, 1)/C(1000, 1) = 1/1000 exactly; C(1000, 500) overflows a float.
    assert stats.pass_at_k(1000, 1, 1) == pytest.approx(0.001, rel=1e-15)
    assert stats.pass_at_k(1000, 1, 500) == pytest.approx(0.5, rel=1e-15)
    assert stats.pass_at_k(1000, 0, 500) == 0.0 and stats.pass_at_k(1000, 600, 500) == 1.0


@pytest.mark.parametrize("n,c,k", [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4), (0, 0, 1)])
def test_pass_at_k_refuses_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k"):
        stats.pass_at_k(n, c, k)


def test_wilson_matches_the_hand_worked_interval() -> None:
    # 7 of 10 at 95 %: z = 1.959964, z^2 = 3.841459, p = 0.7, n = 10.
    #   denominator  1 + z^2/n                      = 1.3841459
    #   centre       (p + z^2/(2n)) / denominator   = (0.7 + 0.1920729) / 1.3841459 = 0.6444934
    #   half-width   z * sqrt(p(1-p)/n + z^2/(4n^2)) / denominator
    #              = 1.959964 * sqrt(0.021 + 0.0096036) / 1.3841459
    #              = 1.959964 * 0.1749390 / 1.3841459                          = 0.2477153
    #   interval     0.6444934 -+ 0.2477153 = (0.3967781, 0.8922087)
    lo, hi = stats.wilson(7, 10) or (math.nan, math.nan)
    assert lo == pytest.approx(0.3967781, abs=1e-6) and hi == pytest.approx(0.8922087, abs=1e-6)


def test_wilson_degenerate_counts() -> None:
    assert stats.wilson(0, 0) is None
    lo, hi = stats.wilson(0, 5) or (math.nan, math.nan)
    assert lo == 0.0 and 0 < hi < 0.5  # all fail: the interval still admits some passes
    lo, hi = stats.wilson(5, 5) or (math.nan, math.nan)
    assert 0.5 < lo < 1 and hi == pytest.approx(1.0)
    with pytest.raises(ValueError, match="wilson"):
        stats.wilson(6, 5)


def test_bootstrap_mean_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    gen = np.random.default_rng(20240612)
    true_mean, reps, covered = 5.0, 400, 0
    for rep in range(reps):
        sample = list(gen.normal(true_mean, 2.0, size=30))
        lo, hi = stats.bootstrap_mean(sample, seed=rep, resamples=2000) or (math.nan, math.nan)
        covered += lo <= true_mean <= hi
    assert 0.92 <= covered / reps <= 0.98, covered / reps


def test_bootstrap_mean_is_reproducible_and_seeded() -> None:
    values = [1.0, 2.5, 3.0, 7.0, 4.0, 6.5]
    a = stats.bootstrap_mean(values, seed=3)
    assert a == stats.bootstrap_mean(values, seed=3)
    assert a != stats.bootstrap_mean(values, seed=4)
    assert a is not None and a[0] < sum(values) / len(values) < a[1]


def test_bootstrap_mean_degenerate_input() -> None:
    assert stats.bootstrap_mean([]) is None and stats.bootstrap_mean([4.0]) is None
    assert stats.bootstrap_mean([4.0, 4.0, 4.0]) == (4.0, 4.0)
    lo, hi = stats.bootstrap_mean([0.0, 0.0, 0.0, 10.0]) or (math.nan, math.nan)
    assert 0.0 <= lo <= 2.5 <= hi <= 10.0  # BCa undefined here or not: an interval, no warning
    with pytest.raises(ValueError, match="finite"):
        stats.bootstrap_mean([1.0, math.nan])


def test_bootstrap_diff_separates_shifted_samples_and_not_equal_ones() -> None:
    gen = np.random.default_rng(7)
    a, b = list(gen.normal(8.0, 1.0, 20)), list(gen.normal(4.0, 1.0, 20))
    lo, hi = stats.bootstrap_diff(a, b) or (math.nan, math.nan)
    assert 2.5 < lo < 4.0 < hi < 5.5
    lo, hi = stats.bootstrap_diff(a, list(a)) or (math.nan, math.nan)
    assert lo < 0 < hi
    assert stats.bootstrap_diff([1.0], [1.0, 2.0]) is None
    assert stats.bootstrap_diff([3.0, 3.0], [1.0, 1.0, 1.0]) == (2.0, 2.0)


def test_permutation_p() -> None:
    gen = np.random.default_rng(11)
    a, b = list(gen.normal(8.0, 1.0, 12)), list(gen.normal(4.0, 1.0, 12))
    p = stats.permutation_p(a, b)
    assert p is not None and p < 0.001
    same = stats.permutation_p(a, list(a))
    assert same is not None and same > 0.9
    # exact for small samples: {1,2,3} vs {4,5,6} is one of the 2 most extreme of 20 splits
    assert stats.permutation_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(2 / 20)
    assert stats.permutation_p([5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0
    assert stats.permutation_p([], [1.0, 2.0]) is None
    assert stats.permutation_p([1.0], [1.0, 2.0]) is None
    assert stats.permutation_p(a, b, seed=1) == stats.permutation_p(a, b, seed=1)


def test_mean_interval_degenerate_input() -> None:
    assert stats.mean_interval([3.0]) is None and stats.mean_interval([2.0, 2.0]) == (2.0, 2.0)
    lo, hi = stats.mean_interval([1.0, 2.0, 3.0]) or (math.nan, math.nan)
    assert lo < 2.0 < hi
