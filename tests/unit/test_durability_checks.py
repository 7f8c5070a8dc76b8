"""harness.checks.durability on hand-made recordings: each check passes the reference's
order of calls, fails the defect it is aimed at with evidence naming the call, and is
not exercised without a usable recording (or what it guards never happened); an engine
that ran no step fails it. Also the detached recording's cut at the engine's own exit.

The recordings are built from `Call` lists (tests/unit/test_trace_rules.py's) and from
the verbatim trace tests/data/strace/fork-split-writev-rename.txt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import api
from harness.checks import run_check
from harness.faults.exact import Recording, _root_exit, capped_output
from harness.model import CheckSpec, Evidence, Outcome
from harness.observe import Observation
from harness.trace import DurabilityCall, durability_calls, parse_trace
from harness.trace.strace import O_APPEND, O_WRONLY
from tests.unit.test_trace_rules import LOG, SUCCEEDED, c, fsync, reference_order, trace

CLEAN = api.all_scenarios(pattern="clean-run")[0]
FORK = Path(__file__).resolve().parent.parent / "data" / "strace" / "fork-split-writev-rename.txt"
FORK_STATE = "/tmp/tr/s/st"
CHECKS = ("durability.events_whole", "durability.synced_before_acted",
          "durability.log_dir_synced", "durability.output_synced_before_publish")
RAN = ({"kind": "start", "step": "b", "run": 1, "pid": 2, "pgid": 2, "mono": 0.0},)


def judge(check: str, rec: Any, audit: tuple[dict[str, Any], ...] = RAN) -> Any:
    facts = {} if rec is None else {"recording": rec}
    obs = Observation(CLEAN, 1, b"{}", (), audit, b"", {}, facts=facts)
    return run_check(CheckSpec(check), obs)


def recorded(calls: list[DurabilityCall]) -> Recording:
    return Recording(tuple(calls), run="run 1")


def outcomes(calls: list[DurabilityCall]) -> dict[str, str]:
    return {k: judge(k, recorded(calls)).outcome.value for k in CHECKS}


def test_every_clean_run_carries_the_four_checks() -> None:
    assert set(CHECKS) <= {spec.check for spec in CLEAN.checks}


def test_the_reference_order_passes_all_four() -> None:
    assert outcomes(trace(*reference_order())) == {k: "pass" for k in CHECKS}


@pytest.mark.parametrize("swap, check, call", [
    ({"s2": None}, "durability.synced_before_acted", "write at trace line 7"),
    ({"dir": None}, "durability.log_dir_synced", "openat at trace line 2"),
    ({"sync_out": None}, "durability.output_synced_before_publish", "link at trace line 9"),
])
def test_each_defect_fails_its_check_alone_naming_the_call(swap: dict[str, Any], check: str,
                                                          call: str) -> None:
    calls = trace(*reference_order(**swap))
    assert outcomes(calls) == {k: "fail" if k == check else "pass" for k in CHECKS}
    [ev] = judge(check, recorded(calls)).evidence
    assert ev.where == f"run 1: {call} (pid 1)"
    assert ev.excerpt.startswith(call.split(" at trace line ")[1] + ": pid 1 ")
    assert ev.expected and call in ev.seen


def test_an_event_in_two_writes_fails_events_whole_with_its_bytes() -> None:
    calls = trace(*reference_order()[:6], c("write", LOG, data=SUCCEEDED[:-1]),
                  c("write", LOG, data=b"\n"), fsync(LOG), *reference_order()[8:])
    assert outcomes(calls) == {k: "fail" if k == "durability.events_whole" else "pass"
                               for k in CHECKS}
    [ev] = judge("durability.events_whole", recorded(calls)).evidence
    assert "the STEP_SUCCEEDED of step b (seq 2) was written in 2 writes" in ev.seen
    assert ev.where == "run 1: write at trace line 7 (pid 1)"
    assert "write(events.jsonl) = " in ev.excerpt and "STEP_SUCCEEDED" in ev.excerpt


def test_the_verbatim_trace_with_a_split_event_fails_events_whole_only() -> None:
    calls = durability_calls(parse_trace(FORK.read_text()), FORK_STATE)
    got = {k: judge(k, recorded(calls)) for k in CHECKS}
    assert {k: r.outcome.value for k, r in got.items()} == {
        k: "fail" if k == "durability.events_whole" else "pass" for k in CHECKS}
    [ev] = got["durability.events_whole"].evidence
    assert ev.where == "run 1: write at trace line 8 (pid 19723)"
    assert "STEP_STARTED of step a (seq 2) was written in 2 writes" in ev.seen


def test_many_findings_keep_three_and_count_the_rest() -> None:
    events = [c("write", LOG, data=b'{"seq": %d, "type": "X", "ts": 1}\n' % n) for n in (1, 2, 3, 4, 5)]
    calls = trace(c("openat", LOG, flags=O_WRONLY | O_APPEND, ret=3), *events)  # never fsynced
    evidence = judge("durability.synced_before_acted", recorded(calls)).evidence
    assert len(evidence) == 4 and evidence[-1].seen == "2 more like these"


@pytest.mark.parametrize("check", CHECKS)
def test_without_a_usable_recording_nothing_is_judged(check: str) -> None:
    absent = judge(check, None)
    assert absent.outcome is Outcome.NOT_EXERCISED and "recorded no run" in absent.detail
    gone = judge(check, Recording(unavailable="the LocalRunner cannot trace", run="run 1"))
    assert gone.outcome is Outcome.NOT_EXERCISED
    assert gone.detail == "no usable trace of the run: the LocalRunner cannot trace"


@pytest.mark.parametrize("check", CHECKS)
def test_a_trace_the_engine_made_unusable_fails(check: str) -> None:
    why = "the clean recording run did not succeed: it exited 1"
    result = judge(check, Recording(unavailable=why, by_candidate=True, run="run 1"))
    assert result.outcome is Outcome.FAIL
    assert result.evidence[0].seen == f"no usable trace of the run: {why}"


@pytest.mark.parametrize("check", CHECKS)
def test_an_engine_that_ran_no_step_fails(check: str) -> None:
    result = judge(check, recorded(trace(*reference_order())), audit=())
    assert result.outcome is Outcome.FAIL
    assert result.evidence == (Evidence("the workflow's steps run (a valid workflow: the contract"
                                        " demands it)", "no step ran: the audit has no probe"
                                        " start", "audit"),)


def test_what_never_happened_is_not_exercised() -> None:
    no_publish = trace(*reference_order(link=None, outdir=None))
    result = judge("durability.output_synced_before_publish", recorded(no_publish))
    assert result.outcome is Outcome.NOT_EXERCISED and "outputs/" in result.detail
    there_before = trace(*reference_order(read=c("openat", LOG, ret=3), create=None))
    result = judge("durability.log_dir_synced", recorded(there_before))
    assert result.outcome is Outcome.NOT_EXERCISED and "there before" in result.detail


def test_a_detached_trace_is_cut_at_the_engine_s_own_exit() -> None:
    raw = FORK.read_bytes()
    end = _root_exit(raw)
    assert end is not None and raw[:end].endswith(b"19723 1796050237.442629 +++ exited with 0 +++\n")
    assert _root_exit(raw + b"19725 1796050237.5 openat(-100<\\x2f>, ") == end  # an orphan's
    child_only = raw[:raw.index(b"19723 1796050237.438566")]  # the child's exit, not the root's
    assert b"19725 1796050237.438487 +++ exited" in child_only and _root_exit(child_only) is None
    assert _root_exit(b"") is None
    killed = b"7 1.0 write(1, \"x\", 1) = 1\n7 2.0 +++ killed by SIGKILL +++\n"
    assert _root_exit(killed) == len(killed)
    # strace pads a short pid (a container's): missing it cost 10 s per Docker recording
    padded = b"7     1.0 write(1, \"x\", 1) = 1\n71    1.5 +++ exited with 1 +++\n"
    assert _root_exit(padded) is None  # pid 71's exit is not pid 7's
    padded += b"7     2.0 +++ exited with 0 +++\n"
    assert _root_exit(padded) == len(padded)



def test_the_trace_pipe_keeps_one_byte_over_its_cap_and_drains_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "t.trace"
    command = capped_output(sys.executable, str(out), cap=1000)
    assert command.startswith("|")
    done = subprocess.run(command[1:], shell=True, input=b"x" * 300_000, timeout=30)
    assert done.returncode == 0 and out.read_bytes() == b"x" * 1001
    subprocess.run(command[1:], shell=True, input=b"7 1.0 +++ exited with 0 +++\n", timeout=30)
    assert out.read_bytes() == b"7 1.0 +++ exited with 0 +++\n"
