"""Unit tests for log damage (tear, corrupt), scoring and expected status."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks.status import expected_status
from harness.eventlog import parse_log
from harness.faults.damage import CORRUPTIONS, corrupt, last_line_length, tear
from harness.model import CheckResult, Outcome, Severity
from harness.scoring import execution_score, tally, verdict

LOG = b"".join(json.dumps({"seq": i, "type": "WORKFLOW_RESUMED", "ts": 1.0}).encode() + b"\n"
               for i in range(1, 6))


@given(st.integers(1, last_line_length(LOG)))
def test_tear_keeps_the_prefix_and_makes_a_torn_line(keep: int) -> None:
    torn = tear(LOG, keep)
    parsed = parse_log(torn)
    assert len(parsed.lines) == 4 and not parsed.damaged and len(parsed.torn) == keep


@given(st.integers(0, 10_000), st.sampled_from(CORRUPTIONS))
def test_corrupt_damages_a_middle_line_only(seed: int, kind: str) -> None:
    c = corrupt(LOG, random.Random(seed), kind)
    parsed = parse_log(c.data)
    assert [d.number for d in parsed.damaged] == [c.line_number]
    assert not parsed.torn


def test_corrupt_needs_two_lines() -> None:
    with pytest.raises(ValueError):
        corrupt(LOG.split(b"\n")[0] + b"\n", random.Random(1), "cut_short")


def r(sev: Severity, outcome: Outcome, check: str = "") -> CheckResult:
    return CheckResult(check or f"c.{sev.name}.{outcome.value}", "durable_log", sev, outcome)


def test_score_weights_severity_and_leaves_out_infra_errors() -> None:
    results = [r(Severity.FATAL, Outcome.PASS), r(Severity.MAJOR, Outcome.FAIL),
               r(Severity.MINOR, Outcome.PASS), r(Severity.FATAL, Outcome.INFRA_ERROR)]
    assert execution_score(results) == pytest.approx(10 * 4 / 6, abs=0.01)
    assert execution_score([r(Severity.MAJOR, Outcome.INFRA_ERROR)]) is None


def test_a_check_counts_once_and_fails_if_it_failed_in_any_scenario() -> None:
    seq = [r(Severity.FATAL, o, "log.seq") for o in (Outcome.PASS, Outcome.FAIL, Outcome.PASS)]
    other = [r(Severity.FATAL, Outcome.PASS, "log.other")]
    assert execution_score(seq + other) == 5.0  # not 10 x 9/12: seq is broken, once
    assert execution_score(seq * 5 + other) == 5.0  # more scenarios, same property
    judged_once = [r(Severity.MAJOR, Outcome.INFRA_ERROR, "x"), r(Severity.MAJOR, Outcome.PASS, "x")]
    assert execution_score(judged_once) == 10.0  # an infra error elsewhere is not a failure


def test_a_check_not_exercised_is_left_out_of_the_score_but_tallied() -> None:
    results = [r(Severity.FATAL, Outcome.PASS), r(Severity.MAJOR, Outcome.FAIL),
               r(Severity.FATAL, Outcome.NOT_EXERCISED)]
    assert execution_score(results) == pytest.approx(10 * 3 / 5, abs=0.01)
    assert execution_score([r(Severity.MAJOR, Outcome.NOT_EXERCISED)]) is None
    assert tally(results) == {"pass": 1, "fail": 1, "infra_error": 0, "not_exercised": 1}


def test_a_checks_verdict_is_fail_then_pass_then_not_exercised_then_infra() -> None:
    ne, ie = Outcome.NOT_EXERCISED, Outcome.INFRA_ERROR
    assert verdict([ne, Outcome.PASS, ie]) is Outcome.PASS  # judged once is judged
    assert verdict([Outcome.PASS, ne, Outcome.FAIL]) is Outcome.FAIL
    assert verdict([ie, ne, ie]) is ne  # ran, but never met what it guards
    assert verdict([ie]) is ie and verdict([]) is ie
    same = [r(Severity.MAJOR, ne, "x"), r(Severity.MAJOR, Outcome.PASS, "x")]
    assert execution_score(same) == 10.0  # not exercised elsewhere is no failure


def test_expected_status_follows_the_clarifications() -> None:
    evs = [{"seq": 1, "type": "WORKFLOW_STARTED"},
           {"seq": 2, "type": "STEP_STARTED", "step": "a", "attempt": 1},
           {"seq": 3, "type": "STEP_FAILED", "step": "a", "attempt": 1, "reason": "lost"},
           {"seq": 4, "type": "STEP_STARTED", "step": "b", "attempt": 1},
           {"seq": 5, "type": "STEP_FAILED", "step": "b", "attempt": 1, "reason": "exit"},
           {"seq": 6, "type": "STEP_RETRY_SCHEDULED", "step": "b", "attempt": 2},
           {"seq": 7, "type": "STEP_STARTED", "step": "c", "attempt": 1},
           {"seq": 8, "type": "STEP_FAILED", "step": "c", "attempt": 1, "reason": "timeout"}]
    assert expected_status(evs) == {
        "workflow": "running", "last_seq": 8,
        "steps": {"a": {"state": "pending", "attempts": 1},
                  "b": {"state": "retry_wait", "attempts": 1},
                  "c": {"state": "failed", "attempts": 1}}}
    assert expected_status([])["workflow"] == "pending"


def test_busy_time_counts_overlapping_invocations_once() -> None:
    from harness.api import busy_time
    from harness.observe import Invocation

    def inv(a: float, b: float) -> Invocation:
        return Invocation("x", (), 0, a, b)

    assert busy_time([inv(0, 10), inv(2, 3), inv(12, 13)]) == pytest.approx(11)
    assert busy_time([]) == 0
