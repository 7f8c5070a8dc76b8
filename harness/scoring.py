"""Scoring: pure functions from check results to numbers.

Execution score = 10 x the severity-weighted share of the suite's checks (fatal 3, major
2, minor 1) that the candidate passed. A check is a property of the contract, and many
scenarios apply the same one (log.seq_contiguous runs after every kind of fault): it
counts once, and holds only if it held in every scenario where it was judged. So a
property broken anywhere is broken, and adding a scenario that re-applies the usual
invariants does not shift every score. Checks that could not run because the harness or
the machine broke (`infra_error`) are left out of both the numerator and the
denominator: they are never counted against a candidate. So are checks whose
precondition never happened (`not_exercised`): a pass there would mean nothing, and the
candidate is not to blame. They are still counted in the tally, so they stay visible.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.model import CheckResult, Outcome, Severity

WEIGHTS = {Severity.FATAL: 3, Severity.MAJOR: 2, Severity.MINOR: 1}


RANK = {Outcome.INFRA_ERROR: 0, Outcome.NOT_EXERCISED: 1, Outcome.PASS: 2, Outcome.FAIL: 3}
UNJUDGED = frozenset({Outcome.INFRA_ERROR, Outcome.NOT_EXERCISED})  # out of the score


def verdict(outcomes: Iterable[Outcome]) -> Outcome:
    """One check's outcomes across scenarios, as one: FAIL if it failed anywhere, else PASS
    if it passed anywhere, else NOT_EXERCISED if some scenario ran it but what it guards
    never happened, else INFRA_ERROR (it could never be judged)."""
    return max(outcomes, key=RANK.__getitem__, default=Outcome.INFRA_ERROR)


def verdicts(results: Iterable[CheckResult]) -> dict[str, tuple[Severity, Outcome]]:
    """Each check once, with its `verdict` over the scenarios that ran it."""
    severity: dict[str, Severity] = {}
    outcomes: dict[str, list[Outcome]] = {}
    for r in results:
        severity.setdefault(r.check, r.severity)
        outcomes.setdefault(r.check, []).append(r.outcome)
    return {c: (severity[c], verdict(o)) for c, o in outcomes.items()}


def execution_score(results: Iterable[CheckResult]) -> float | None:
    """The score, or None when no check could be judged at all."""
    counted = [v for v in verdicts(results).values() if v[1] not in UNJUDGED]
    total = sum(WEIGHTS[sev] for sev, _ in counted)
    if total == 0:
        return None
    passed = sum(WEIGHTS[sev] for sev, outcome in counted if outcome is Outcome.PASS)
    return round(10.0 * passed / total, 2)


def tally(results: Iterable[CheckResult]) -> dict[str, int]:
    """Scenario x check outcomes, counted one by one (what the table's pass/fail shows),
    with a count for every outcome, not_exercised included."""
    counts = {o.value: 0 for o in Outcome}
    for r in results:
        counts[r.outcome.value] += 1
    return counts
