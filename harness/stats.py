"""Estimators for studies: intervals, pass@k and tests, on scipy.stats where it has one.

Pure functions over plain numbers, so each can be checked against a direct computation
(tests/unit/test_stats.py). Degenerate data (no values, one value, no spread) gets an
explicit answer here instead of scipy's warning and NaN, and every resampling method
draws from a numpy Generator made from an explicit seed, so a report is reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

# numpy, like scipy below, is imported inside the estimators that use it: it takes a
# third of a second, and every harness command imports this module.
if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]

DEFAULT_SEED = 0
def _stats() -> Any:
    """scipy.stats, imported when an estimator first needs it: it takes a second and a
    half to import, and every harness command (a test suite starts hundreds) imports
    this module, while only trials and comparisons use it."""
    from scipy import stats

    return stats


RESAMPLES = 9999  # scipy's default for both the bootstrap and the permutation test

Interval = tuple[float, float]


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval | None:
    """The Student-t interval of the mean of values; None for fewer than two values, and
    (m, m) when every value is m (no spread: the t interval has width 0)."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    if all(v == values[0] for v in values):
        return (m, m)
    lo, hi = _stats().t.interval(confidence, len(values) - 1, loc=m, scale=_stats().sem(values))
    return (float(lo), float(hi))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of Chen et al. 2021: the chance that k of n samples, c of which
    pass, drawn without replacement, hold at least one that passes: 1 - C(n-c, k)/C(n, k).

    Exact: the ratio is a Fraction of integers rounded once to a float, so it neither
    overflows for large n nor loses digits to cancellation. ValueError unless
    0 <= c <= n and 1 <= k <= n."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval | None:
    """The Wilson score interval of the proportion successes/n (scipy's binomtest); None
    when n is 0 (no trial, no proportion). ValueError unless 0 <= successes <= n."""
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"wilson needs 0 <= successes <= n (successes={successes}, n={n})")
    ci = _stats().binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def _mean(x: Floats, axis: int = -1) -> Floats:
    import numpy as np

    return np.asarray(np.mean(x, axis=axis), dtype=np.float64)


def _diff_of_means(x: Floats, y: Floats, axis: int = -1) -> Floats:
    return _mean(x, axis) - _mean(y, axis)


def _bootstrap(data: tuple[Floats, ...], statistic: Callable[..., Floats], confidence: float,
               seed: int, resamples: int) -> Interval:
    """scipy's bootstrap interval: BCa, or the percentile interval where BCa is undefined
    (scipy warns that the data are degenerate, or its ends are NaN)."""
    import numpy as np

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a degenerate-data warning means: try the next one
            try:
                res = _stats().bootstrap(data, statistic, n_resamples=resamples,
                                    confidence_level=confidence, method=method,
                                    vectorized=True, rng=np.random.default_rng(seed))
            except (Warning, ValueError, ZeroDivisionError):
                continue
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return (lo, hi)
    raise ValueError("the bootstrap found no finite interval")  # not reached for finite data


def _floats(values: Sequence[float], what: str) -> Floats:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: every value must be a finite number")
    return arr


def bootstrap_mean(values: Sequence[float], confidence: float = 0.95, seed: int = DEFAULT_SEED,
                   resamples: int = RESAMPLES) -> Interval | None:
    """The bootstrap interval of the mean of values (scipy.stats.bootstrap, BCa, the
    percentile interval where BCa is undefined); None for fewer than two values, and
    (m, m) when every value is m.

    Given one value per candidate (its mean score over its trials), the resampling unit
    is the candidate, so with trials this is the bootstrap clustered by candidate: the
    trials of one candidate are never treated as independent samples of its group."""
    import numpy as np

    arr = _floats(values, "bootstrap_mean")
    if arr.size < 2:
        return None
    if np.all(arr == arr[0]):
        m = float(arr[0])
        return (m, m)
    return _bootstrap((arr,), _mean, confidence, seed, resamples)


def bootstrap_diff(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                   seed: int = DEFAULT_SEED, resamples: int = RESAMPLES) -> Interval | None:
    """The bootstrap interval of mean(a) - mean(b), a and b independent samples (each
    resampled on its own); None when either has fewer than two values, and (d, d) when
    neither has any spread."""
    import numpy as np

    x, y = _floats(a, "bootstrap_diff"), _floats(b, "bootstrap_diff")
    if x.size < 2 or y.size < 2:
        return None
    if np.all(x == x[0]) and np.all(y == y[0]):
        d = float(x[0] - y[0])
        return (d, d)
    return _bootstrap((x, y), _diff_of_means, confidence, seed, resamples)


def permutation_p(a: Sequence[float], b: Sequence[float], seed: int = DEFAULT_SEED,
                  resamples: int = RESAMPLES) -> float | None:
    """The two-sided permutation-test p-value of mean(a) - mean(b), a and b independent
    (scipy.stats.permutation_test; exact when there are at most `resamples` ways to
    split the values). None when either sample has fewer than two values (scipy's
    permutation test needs two); 1.0 when every value of both is the same (every split
    gives the same difference)."""
    import numpy as np

    x, y = _floats(a, "permutation_p"), _floats(b, "permutation_p")
    if x.size < 2 or y.size < 2:
        return None
    both = np.concatenate([x, y])
    if np.all(both == both[0]):
        return 1.0
    res = _stats().permutation_test((x, y), _diff_of_means, permutation_type="independent",
                               vectorized=True, n_resamples=resamples,
                               alternative="two-sided", rng=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))
