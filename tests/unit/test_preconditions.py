"""Checks on hand-made observations: no pass for what never happened.

A check whose precondition the contract demands (a valid workflow's steps run) fails
without it, with evidence; one whose precondition only the harness's fault schedule
missed is not exercised; and design intent is not credited to code that ran no step.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import api
from harness.checks import REGISTRY, run_check
from harness.intent import NO_STEP_RAN, Hit, Intent, credited
from harness.model import CheckSpec, Outcome
from harness.observe import Invocation, Observation

CRASH_LOOP = api.all_scenarios(pattern="crash-loop")[0]
CLEAN = api.all_scenarios(pattern="clean-run")[0]


def audit(scenario: Any, skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], ...]:
    """A probe start and an exit-0 end for each step of the workflow but `skip`."""
    return tuple({"kind": kind, "step": s["id"], "run": 1, "pid": 100 + n, "pgid": 100 + n,
                  "mono": float(n), **({"exit": 0} if kind == "end" else {})}
                 for n, s in enumerate(scenario.workflow["steps"]) if s["id"] not in skip
                 for kind in ("start", "end"))


def forged(scenario: Any) -> bytes:
    """The fake's two lines: started (right name), succeeded; no step event at all."""
    evs = [{"seq": 1, "type": "WORKFLOW_STARTED", "ts": 1.0, "workflow": scenario.workflow["name"],
            "digest": "0" * 64}, {"seq": 2, "type": "WORKFLOW_SUCCEEDED", "ts": 1.1}]
    return b"".join(json.dumps(e).encode() + b"\n" for e in evs)


def observe(scenario: Any, records: tuple[dict[str, Any], ...], *runs: Invocation) -> Observation:
    log = forged(scenario)
    return Observation(scenario, 1, b"{}", runs, records, log, {})


def run(label: str, rc: int | None = 0, fault_at: float | None = None,
        log: bytes | None = None) -> Invocation:
    return Invocation(label, ("run",), rc, 0.0, 1.0, fault_at=fault_at, log_after=log)


def judge(check: str, obs: Observation) -> Any:
    return run_check(CheckSpec(check), obs)


def test_a_fault_that_missed_an_engine_that_did_its_work_is_not_exercised() -> None:
    obs = observe(CRASH_LOOP, audit(CRASH_LOOP), run("run 1"))  # no kill landed
    result = judge("crash.dead_lock_ignored", obs)
    assert result.outcome is Outcome.NOT_EXERCISED
    assert "no engine was killed" in result.detail and "already run to success" in result.detail
    assert result.evidence and result.evidence[0].seen == result.detail


@pytest.mark.parametrize("check", ["crash.dead_lock_ignored", "crash.lost_recorded",
                                   "crash.resumed_event", "crash.no_rerun_after_success"])
def test_a_fault_that_missed_an_engine_that_ran_nothing_fails(check: str) -> None:
    obs = observe(CRASH_LOOP, (), run("run 1", log=forged(CRASH_LOOP)))
    result = judge(check, obs)
    assert result.outcome is Outcome.FAIL
    assert "no step ran: the audit has no probe start" in result.evidence[0].seen


@pytest.mark.parametrize("scenario, check", [(CLEAN, "dag.exit_zero"),
                                             (CRASH_LOOP, "crash.completes")])
def test_exit_zero_and_a_forged_success_is_not_completion(scenario: Any, check: str) -> None:
    ok = run("run 1", log=forged(scenario))
    assert judge(check, observe(scenario, audit(scenario), ok)).outcome is Outcome.PASS
    nothing = judge(check, observe(scenario, (), ok))
    assert nothing.outcome is Outcome.FAIL
    assert [e.seen for e in nothing.evidence] == ["no step ran: the audit has no probe start"]
    last = scenario.workflow["steps"][-1]["id"]
    partly = judge(check, observe(scenario, audit(scenario, skip=(last,)), ok))
    assert partly.outcome is Outcome.FAIL and partly.evidence[0].seen.endswith(f": {last}")
    assert "exit 0 for each step id" in partly.evidence[0].expected


# files.regular judges the kind of file the engine left, which a forged log really is: a
# regular file, within its cap. Its precondition (some log was written) did happen.
JUDGES_THE_FILE_ALONE = {"files.regular"}


@pytest.mark.parametrize("check", sorted({spec.check for spec in CLEAN.checks}
                                         - JUDGES_THE_FILE_ALONE))
def test_no_check_of_a_clean_run_passes_when_no_step_ran(check: str) -> None:
    result = judge(check, observe(CLEAN, (), run("run 1", log=forged(CLEAN)),
                                  Invocation("status", ("status",), 0, 1.0, 1.1,
                                             log_before=forged(CLEAN),
                                             log_after=forged(CLEAN))))
    assert result.outcome is Outcome.FAIL, (check, REGISTRY[check].doc)


def test_files_regular_fails_when_no_log_was_ever_written() -> None:
    nothing = judge("files.regular", Observation(CLEAN, 1, b"{}", (run("run 1"),), (), b"", {}))
    assert nothing.outcome is Outcome.FAIL
    assert "no events.jsonl was ever found" in nothing.evidence[0].seen
    forged_log = judge("files.regular", observe(CLEAN, (), run("run 1", log=forged(CLEAN))))
    assert forged_log.outcome is Outcome.PASS


def test_intent_is_not_credited_to_code_that_never_ran_a_step() -> None:
    fsync = Hit("durable_log", "engine.py", 9, "os.fsync(fd)", "events are fsynced")
    everything = Intent(True, (fsync,), frozenset({"durable_log"}))
    assert everything.score > 0
    assert credited(everything, [0, 0, 0]) == (0.0, NO_STEP_RAN)
    assert credited(everything, [0, 3]) == (everything.score, "")
    assert credited(everything, []) == (everything.score, "")  # nothing judged: nothing known
    assert credited(Intent(True, (), frozenset()), [0]) == (0.0, "")  # nothing to withhold


def test_a_fault_the_scenario_makes_certain_fails_when_it_never_came() -> None:
    sigterm = api.all_scenarios(pattern="sigterm")[0]
    obs = Observation(sigterm, 1, b"{}", (run("run 1"),), audit(sigterm), forged(sigterm), {},
                      facts={"signalled": False})  # steps hang: an engine running them is hit
    result = judge("crash.lost_recorded", obs)
    assert result.outcome is Outcome.FAIL
    assert "the scenario's fault reaches the engine" in result.evidence[0].expected


TIMEOUT = api.all_scenarios(pattern="timeout-kills-group")[0]
RETRY = next(c for c in TIMEOUT.checks if c.check == "procs.retry_after_timeout")


def _timeout_log(waited: float, last_reason: str = "timeout") -> bytes:
    """slow: attempt 1 times out, a retry is scheduled, attempt 2 ends after `waited` s."""
    evs: list[dict[str, Any]] = [
        {"type": "WORKFLOW_STARTED", "ts": 0.0, "workflow": "w", "digest": "0" * 64},
        {"type": "STEP_STARTED", "ts": 1.0, "step": "slow", "attempt": 1, "pid": 11, "pgid": 11},
        {"type": "STEP_FAILED", "ts": 2.5, "step": "slow", "attempt": 1, "reason": "timeout"},
        {"type": "STEP_RETRY_SCHEDULED", "ts": 2.5, "step": "slow", "attempt": 2, "delay_s": 0.2},
        {"type": "STEP_STARTED", "ts": 3.0, "step": "slow", "attempt": 2, "pid": 12, "pgid": 12},
        {"type": "STEP_FAILED", "ts": 3.0 + waited, "step": "slow", "attempt": 2,
         "reason": last_reason, **({"exit_code": 1} if last_reason == "exit" else {})},
        {"type": "WORKFLOW_FAILED", "ts": 9.0}]
    return b"".join(json.dumps({"seq": i, **e}).encode() + b"\n" for i, e in enumerate(evs, 1))


def _timeout_obs(log: bytes, probe_starts: int) -> Observation:
    records = tuple({"kind": "start", "step": "slow", "run": n, "pid": 10 + n, "pgid": 10 + n,
                     "mono": float(n)} for n in range(1, probe_starts + 1))
    return Observation(TIMEOUT, 1, b"{}", (run("run", rc=1, log=log),), records, log, {})


def test_a_retry_that_timed_out_after_its_whole_timeout_is_not_exercised() -> None:
    """On a machine too slow for the probe to finish within timeout_s, the retry times
    out too: a correct engine did what the contract says, and the check had no retry
    that could succeed to judge. Whether the probe started or not."""
    for starts in (1, 2):
        result = run_check(RETRY, _timeout_obs(_timeout_log(waited=1.2), probe_starts=starts))
        assert result.outcome is Outcome.NOT_EXERCISED, result.detail
        assert "timed out too, after 1.20 s (timeout_s 1.0)" in result.detail


def test_a_retry_ended_early_or_failed_otherwise_still_fails() -> None:
    """Not excused: a timeout before timeout_s (by the engine's own log), a retry that
    failed for another reason, or no retry at all (the one attempt timed out in full)."""
    never = b"".join(line + b"\n" for line in _timeout_log(waited=1.2).splitlines()[:3])
    for log, starts in ((_timeout_log(waited=0.4), 2),
                        (_timeout_log(waited=1.2, last_reason="exit"), 2), (never, 1)):
        result = run_check(RETRY, _timeout_obs(log, probe_starts=starts))
        assert result.outcome is Outcome.FAIL, result.detail
