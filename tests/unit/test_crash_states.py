"""The crash-states scenario's pure parts: sampling with dedup, the per-model tally, and
the states.* checks on hand-made observations, each shown to fail on a state that breaks
its rule and to pass on one that keeps it."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest

from harness import api
from harness.checks import run_check, states
from harness.faults.crashstates import choose, succeeded_in, unpublishable
from harness.model import CheckSpec, Outcome
from harness.observe import Invocation, Observation, Variant
from harness.report import view
from harness.sandbox.probe import output_bytes
from harness.trace.states import CrashState, Model

SCENARIO = api.all_scenarios(pattern="crash-states")[0]
CHECKS = [spec.check for spec in SCENARIO.checks]
FETCH, PARSE = output_bytes("fetch", 1, 300), output_bytes("parse", 2, 5000)


def lines(*evs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps({"seq": n, "ts": 1.0 + n, **e}).encode() + b"\n"
                    for n, e in enumerate(evs, 1))


STARTED: dict[str, Any] = {"type": "WORKFLOW_STARTED", "workflow": "crash-states", "digest": "0" * 64}
STATE_EVENTS: list[dict[str, Any]] = [
    STARTED, {"type": "STEP_STARTED", "step": "fetch", "attempt": 1, "pid": 5, "pgid": 5},
    {"type": "STEP_SUCCEEDED", "step": "fetch", "attempt": 1}]
RUN_EVENTS: list[dict[str, Any]] = [{"type": "WORKFLOW_RESUMED"}]
for n, step in enumerate(("parse", "check", "report")):
    RUN_EVENTS += [{"type": "STEP_STARTED", "step": step, "attempt": 1, "pid": 50 + n,
                    "pgid": 50 + n}, {"type": "STEP_SUCCEEDED", "step": step, "attempt": 1}]
RUN_EVENTS.append({"type": "WORKFLOW_SUCCEEDED"})
STATE_LOG = lines(*STATE_EVENTS)
RUN_LOG = lines(*STATE_EVENTS, *RUN_EVENTS)


def rec(kind: str, step: str, run: int, pid: int, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "step": step, "run": run, "pid": pid, "pgid": pid, **more}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


EARLIER = (rec("start", "fetch", 1, 5, attempt_env="1",
               output_env="/cell/work/record/work/fetch.1.out"),
           rec("output", "fetch", 1, 5, sha256=sha(FETCH)), rec("end", "fetch", 1, 5, exit=0))
AUDIT = (rec("start", "parse", 2, 50), rec("output", "parse", 2, 50, sha256=sha(PARSE)),
         rec("end", "parse", 2, 50, exit=0), rec("start", "check", 1, 51),
         rec("end", "check", 1, 51, exit=0), rec("start", "report", 1, 52),
         rec("end", "report", 1, 52, exit=0))
STATUS = {"workflow": "running", "last_seq": 3,
          "steps": {"fetch": {"state": "succeeded", "attempts": 1}}}


def variant(model: str = "prefix", name: str = "prefix 9", **facts: Any) -> Variant:
    """A state after fetch's success, resumed as the contract has it."""
    log = facts.pop("log", STATE_LOG)
    status = Invocation(f"status {name}", ("status",), facts.pop("status_rc", 0), 0.0, 0.1,
                        stdout=json.dumps(facts.pop("status", STATUS)).encode(),
                        log_before=log, log_after=facts.pop("status_after", log))
    run = Invocation(f"run {name}", ("run",), facts.pop("run_rc", 0), 0.2, 1.0,
                     log_before=log, log_after=facts.pop("run_after", RUN_LOG))
    base: dict[str, Any] = {
        "model": model, "state": name, "explanation": f"the explanation of {name}", "k": 9,
        "log": log, "succeeded": succeeded_in(log), "acted_on": [], "earlier_audit": EARLIER,
        "audit": AUDIT, "outputs_before": {"fetch": (10, FETCH)},
        "outputs_after": {"fetch": (10, FETCH), "parse": (20, PARSE)},
        "due_outputs": ["fetch", "parse"], "unpublishable": []}
    return Variant(f"{model}: {name}", (status, run), {**base, **facts})


RECORDED = (rec("start", "fetch", 1, 40), rec("end", "fetch", 1, 40, exit=0))  # the recording's


def observation(*variants: Variant, audit: tuple[dict[str, Any], ...] = RECORDED,
                **facts: Any) -> Observation:
    return Observation(SCENARIO, 1, b"{}", (), audit, b"", {}, variants=variants,
                       facts={"states_deduped": 2, **facts})


def outcome(check: str, obs: Observation) -> Any:
    return run_check(CheckSpec(check), obs)


def state(name: str, data: bytes, model: Model = Model.PREFIX) -> CrashState:
    return CrashState(name, model, 0, None, name, (("events.jsonl", data),))


def test_choose_keeps_first_and_last_samples_the_rest_and_drops_twins() -> None:
    prefix = [state(f"prefix {k}", b"x" * k) for k in range(20)]
    power = [state("power loss after 0", b"", Model.POWER_LOSS),  # same tree as prefix 0
             *(state(f"power loss after {k}", b"y" * k, Model.POWER_LOSS) for k in range(1, 4))]
    chosen, twins = choose([(Model.PREFIX, prefix), (Model.POWER_LOSS, power)],
                           {Model.PREFIX: 5, Model.POWER_LOSS: 8}, random.Random(3))
    names = [s.name for s in chosen]
    assert names[0] == "prefix 0" and names[4] == "prefix 19" and len(names) == 5 + 3
    assert twins == {"power loss after 0": "prefix 0"}
    again, _ = choose([(Model.PREFIX, prefix), (Model.POWER_LOSS, power)],
                      {Model.PREFIX: 5, Model.POWER_LOSS: 8}, random.Random(3))
    assert [s.name for s in again] == names  # the same seed, the same states


def test_the_good_state_passes_every_check_and_the_tally_counts_it() -> None:
    obs = observation(variant(), variant("torn", "torn 4 at 1 byte"))
    for check in CHECKS:
        result = outcome(check, obs)
        assert result.outcome is Outcome.PASS, (check, result.evidence)
    assert states.tally(obs, CHECKS) == {
        "models": {"prefix": {"tried": 1, "passed": 1, "failed": 0},
                   "torn": {"tried": 1, "passed": 1, "failed": 0}}, "deduped": 2}


BROKEN: dict[str, dict[str, Any]] = {
    "states.status": {"status": {**STATUS, "last_seq": 2}},
    "states.run_recovers": {"run_after": lines(*STATE_EVENTS, *RUN_EVENTS[:-1])},
    "states.no_rerun": {"audit": (rec("start", "fetch", 2, 60), *AUDIT)},
    "states.outputs_once": {"outputs_after": {"fetch": (11, FETCH), "parse": (20, PARSE)}},
}


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_each_check_fails_the_state_that_breaks_its_rule(check: str) -> None:
    bad = variant("power_loss", "power loss after 12", **BROKEN[check])
    obs = observation(variant(), bad)
    result = outcome(check, obs)
    assert result.outcome is Outcome.FAIL
    assert result.evidence[0].where.startswith("power_loss: power loss after 12 (the explanation")
    tally = states.tally(obs, CHECKS)
    assert tally["models"]["power_loss"] == {"tried": 1, "passed": 0, "failed": 1}
    assert tally["first_failing"]["state"] == "power loss after 12"
    assert tally["first_failing"]["problems"][0].startswith(check)


def test_a_rerun_of_a_success_the_state_does_not_hold_is_allowed() -> None:
    log = lines(*STATE_EVENTS[:2])  # fetch started, its success never written
    after = lines(*STATE_EVENTS[:2], {"type": "WORKFLOW_RESUMED"},
                  {"type": "STEP_FAILED", "step": "fetch", "attempt": 1, "reason": "lost"},
                  {"type": "STEP_STARTED", "step": "fetch", "attempt": 2, "pid": 60, "pgid": 60},
                  {"type": "STEP_SUCCEEDED", "step": "fetch", "attempt": 2}, *RUN_EVENTS[1:])
    v = variant(log=log, run_after=after, status={
        "workflow": "running", "last_seq": 2, "steps": {"fetch": {"state": "running",
                                                                  "attempts": 1}}},
        audit=(rec("start", "fetch", 2, 60), rec("end", "fetch", 2, 60, exit=0), *AUDIT))
    assert outcome("states.no_rerun", observation(v)).outcome is Outcome.PASS
    assert outcome("states.run_recovers", observation(v)).outcome is Outcome.PASS


def test_a_torn_final_line_may_be_cut_but_no_complete_event_lost() -> None:
    torn = STATE_LOG + b'{"seq":4,"ty'
    v = variant(log=torn)
    assert outcome("states.run_recovers", observation(v)).outcome is Outcome.PASS
    assert outcome("states.status", observation(v)).outcome is Outcome.PASS
    lost = variant(log=torn, run_after=lines(STARTED, *RUN_EVENTS))
    result = outcome("states.run_recovers", observation(lost))
    assert result.outcome is Outcome.FAIL and "lost or changed" in result.evidence[0].seen


def test_status_without_a_log_must_exit_2_and_create_none() -> None:
    good = variant(log=None, status_rc=2, status_after=None, succeeded=[])
    assert states.status_problems(good, []) == []
    bad = variant(log=None, status_rc=0, status_after=None, succeeded=[])
    assert states.status_problems(bad, []) and "exit 0" in states.status_problems(bad, [])[0]


def test_an_output_a_power_loss_undid_is_not_demanded_but_one_published_must_be_whole() -> None:
    gone: dict[str, Any] = {"outputs_before": {}, "outputs_after": {"parse": (20, PARSE)}}
    assert states.output_problems(variant(**gone), []) == ["outputs/fetch missing"]
    assert states.output_problems(variant(**gone, unpublishable=["fetch"]), []) == []
    partial: dict[str, Any] = {"outputs_after": {"fetch": (10, FETCH), "parse": (20, PARSE[:100])}}
    assert "not the whole output" in states.output_problems(variant(**partial), [])[0]


def test_unpublishable_names_a_success_whose_attempt_file_and_output_are_gone() -> None:
    assert unpublishable(STATE_LOG, {}, EARLIER, "/cell/work/record") == ["fetch"]
    kept = {"work/fetch.1.out": FETCH}
    assert unpublishable(STATE_LOG, kept, EARLIER, "/cell/work/record") == []
    assert unpublishable(STATE_LOG, {"outputs/fetch": FETCH}, EARLIER, "/cell/work/record") == []


def test_no_recording_is_not_exercised_and_no_state_is_a_failure() -> None:
    why = "the FakeCell cannot trace"
    result = outcome("states.no_rerun", observation(states_unavailable=why))
    assert result.outcome is Outcome.NOT_EXERCISED and why in result.detail
    assert outcome("states.no_rerun", observation()).outcome is Outcome.FAIL


def test_no_recording_by_the_engines_own_doing_or_no_step_at_all_is_a_failure() -> None:
    why = "the clean recording run did not succeed: it exited 1"
    bad = observation(states_unavailable=why, states_unavailable_by_candidate=True)
    result = outcome("states.no_rerun", bad)
    assert result.outcome is Outcome.FAIL and why in result.evidence[0].seen
    forged = outcome("states.no_rerun", observation(variant(), audit=()))
    assert forged.outcome is Outcome.FAIL and "no step ran" in forged.evidence[0].seen


def test_many_failing_states_show_the_first_few_and_count_the_rest() -> None:
    bad = [variant(name=f"prefix {k}", audit=(rec("start", "fetch", 2, 60), *AUDIT))
           for k in range(6)]
    result = outcome("states.no_rerun", observation(*bad))
    assert len(result.evidence) == states.SHOWN + 1
    assert "3 more of 6" in result.evidence[-1].seen


def test_the_tally_names_a_model_all_of_whose_states_were_twins() -> None:
    obs = observation(variant(), states_built={"prefix": 9, "torn": 4, "power_loss": 5})
    assert states.tally(obs, CHECKS)["models"]["power_loss"] == {"tried": 0, "passed": 0,
                                                                 "failed": 0}


def test_the_report_says_the_tally_in_words() -> None:
    cell = {"crash_states": {"models": {"prefix": {"tried": 8, "passed": 7, "failed": 1}},
                             "deduped": 3, "first_failing": {
                                 "model": "prefix", "state": "prefix 9", "explanation": "why"}}}
    assert view.states_text(cell) == ("crash states: prefix 7/8 passed (3 twins dropped);"
                                      " first failing: prefix state 'prefix 9': why")
    assert view.states_text({}) == ""
