"""Estimators for studies: intervals, pass@k and tests, on scipy.stats where it has one.

Pure functions over plain numbers, so each can be checked against a direct computation
(tests/unit/test_stats.py). Degenerate data (one value, no spread) gets an explicit
answer here instead of scipy's warning and NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as _st


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The Student-t interval of the mean of values; None for fewer than two values, and
    (m, m) when every value is m (no spread: the t interval has width 0)."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    if all(v == values[0] for v in values):
        return (m, m)
    lo, hi = _st.t.interval(confidence, len(values) - 1, loc=m, scale=_st.sem(values))
    return (float(lo), float(hi))
