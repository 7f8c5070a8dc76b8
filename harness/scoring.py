"""Scoring: pure functions from check results to numbers.

Execution score = 10 x the severity-weighted fraction of checks passed (fatal 3, major 2,
minor 1). Checks that could not run because the harness or the machine broke
(`infra_error`) are left out of both the numerator and the denominator: they are never
counted against a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.model import CheckResult, Outcome, Severity

WEIGHTS = {Severity.FATAL: 3, Severity.MAJOR: 2, Severity.MINOR: 1}


def execution_score(results: Iterable[CheckResult]) -> float | None:
    """The score, or None when no check could be judged at all."""
    counted = [r for r in results if r.outcome is not Outcome.INFRA_ERROR]
    total = sum(WEIGHTS[r.severity] for r in counted)
    if total == 0:
        return None
    passed = sum(WEIGHTS[r.severity] for r in counted if r.outcome is Outcome.PASS)
    return round(10.0 * passed / total, 2)


def tally(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = {o.value: 0 for o in Outcome}
    for r in results:
        counts[r.outcome.value] += 1
    return counts
