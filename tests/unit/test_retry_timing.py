"""retry.not_early / retry.not_late against TASK.md v1.2's starting points of the delay:
no earlier than delay(n) after the leader's exit, no later than delay(n) + 1 s after the
failed attempt's whole group was gone (ending the group belongs to the failed attempt)."""

from __future__ import annotations

from typing import Any

from harness import api
from harness.checks import run_check
from harness.model import CheckSpec, Outcome
from harness.observe import Observation

RETRY = api.all_scenarios(pattern="retry-backoff")[0]  # flaky: backoff 1 s, x2


def observe(retry_made: float, child_died: float | None) -> Observation:
    """flaky run 1 fails at t=10 (its end record); run 2 is made at `retry_made`."""
    recs: list[dict[str, Any]] = [
        {"kind": "start", "step": "flaky", "run": 1, "pid": 50, "pgid": 50, "mono": 9.0},
        {"kind": "child", "step": "flaky", "pid": 51, "parent": 50, "mono": 9.1},
        {"kind": "end", "step": "flaky", "run": 1, "exit": 1, "pid": 50, "mono": 10.0},
        {"kind": "start", "step": "flaky", "run": 2, "pid": 60, "pgid": 60, "mono": retry_made},
    ]
    deaths = {50: 10.01, **({51: child_died} if child_died is not None else {})}
    return Observation(RETRY, 1, b"{}", (), tuple(recs), b"", {}, deaths=deaths)


def outcome(check: str, obs: Observation) -> Outcome:
    return run_check(CheckSpec(check, {"step": "flaky"}), obs).outcome


def test_a_retry_due_after_the_group_was_ended_is_not_late() -> None:
    obs = observe(retry_made=13.5, child_died=12.0)  # 2 s to end the group, then 1 s + 0.5
    assert outcome("retry.not_late", obs) is Outcome.PASS
    assert outcome("retry.not_early", obs) is Outcome.PASS


def test_late_without_a_group_to_end_is_late() -> None:
    assert outcome("retry.not_late", observe(retry_made=12.5, child_died=10.0)) is Outcome.FAIL


def test_early_is_counted_from_the_leaders_exit() -> None:
    assert outcome("retry.not_early", observe(retry_made=10.5, child_died=12.0)) is Outcome.FAIL
    assert outcome("retry.not_early", observe(retry_made=11.05, child_died=12.0)) is Outcome.PASS
