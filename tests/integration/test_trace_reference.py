"""The reference engine's clean-run, recorded with `harness.trace.strace_argv`.

The engine runs directly under strace in a temporary folder, outside the runners, with
the environment TASK.md promises (PATH, HOME, TMPDIR, LANG) and the probe as every
step's command. The recording must show what TASK.md's log rules demand of it: each
event of the final log carried by exactly one write that holds its whole line (a write
may hold several whole lines: events that become ready together share it, group commit), each write
fsynced before the next event is written and before anything is done on it (a
dependent step's command starts; an output is published), and every output published
by a link or rename into outputs/. A step's command is taken to have started when the
process that runs it was made (the clone or fork whose child wrote its probe's start
record), not at that record, which comes a Python start-up later.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.trace import DurabilityCall, Kind, durability_calls, log_events
from harness.trace.strace import Call
from tests.trace_run import run_traced

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]


def _run_traced(root: Path, tmp: Path, name: str = "reference"
                ) -> tuple[list[Call], Path, dict[str, list[str]]]:
    return run_traced(root, tmp, root / "candidates" / name)


def _synced_at(calls: list[DurabilityCall], write: DurabilityCall) -> int:
    """The trace line where the log was first fsynced after write, by its process."""
    return next(d.call.line for d in calls if d.kind is Kind.SYNC and d.file == "events.jsonl"
                and d.call.proc == write.call.proc and d.call.line > write.call.line
                and d.call.ret == 0)


def _command_starts(calls: list[Call], audit: str) -> dict[str, int]:
    """Step id -> the trace line where the process that ran its command was made (the
    clone/fork whose return is the pid that wrote the step's probe 'start' record)."""
    made = {c.ret: c.line for c in calls
            if c.syscall in ("clone", "clone3", "fork", "vfork") and c.ret and c.ret > 0}
    starts: dict[str, int] = {}
    for c in calls:
        if c.syscall == "write" and c.paths == (audit,) and c.data:
            record = json.loads(c.data)
            if record.get("kind") == "start":
                starts.setdefault(record["step"], made[c.pid])
    return starts


def _broken_rules(calls: list[Call], state: Path, deps: dict[str, list[str]],
                  audit: str) -> list[str]:
    """What the recording shows of TASK.md's log rules being broken ([]: none)."""
    mapped = durability_calls(calls, str(state))
    events = log_events(mapped)
    final = (state / "events.jsonl").read_bytes()
    assert b"".join(e.raw for e in events) == final
    writes = [d for d in mapped if d.kind is Kind.LOG_WRITE]
    broken = []
    for event in events:  # exactly one write carries each line, whole (group commit: a
        carriers = [d for d in writes if event.index in d.events]  # write may hold several)
        if len(carriers) != 1 or carriers[0].partial or event.raw not in (carriers[0].call.data or b""):
            broken.append(f"event {event.index} is not carried by one whole write")
    durable = {}
    for write, nxt in zip(writes, [*writes[1:], None], strict=True):
        synced = _synced_at(mapped, write)
        if nxt is not None and synced > nxt.call.line:
            broken.append(f"event {write.events} not fsynced before the next")
        for index in write.events:
            durable[index] = synced
    succeeded = {e.event["step"]: durable[e.index] for e in events
                 if e.event is not None and e.event["type"] == "STEP_SUCCEEDED"}
    starts = _command_starts(calls, audit)
    assert set(starts) == set(deps)
    broken += [f"{step} started before {dep} was durable" for step, needs in deps.items()
               for dep in needs if succeeded[dep] > starts[step]]
    published = {d.step: d.call.line for d in mapped if d.kind is Kind.PUBLISH}
    assert set(published) == {p.name for p in (state / "outputs").iterdir()}
    broken += [f"{step} published before its success was durable"
               for step, line in published.items() if succeeded[step] > line]
    return broken


def test_reference_clean_run_is_recorded_event_by_event(root: Path, tmp_path: Path) -> None:
    tmp = tmp_path.resolve()
    calls, state, deps = _run_traced(root, tmp)
    assert _broken_rules(calls, state, deps, str(tmp / "audit.jsonl")) == []
    published = {d.step for d in durability_calls(calls, str(state)) if d.kind is Kind.PUBLISH}
    assert published == {"prepare", "fan-a", "fan-c", "join"}


def test_an_engine_that_acts_before_durable_is_seen_doing_so(root: Path, tmp_path: Path) -> None:
    """The same judgement fails on the mutant that starts dependents before their
    dependency's STEP_SUCCEEDED is written: the recording is evidence, not decoration."""
    tmp = tmp_path.resolve()
    calls, state, deps = _run_traced(root, tmp, "mutants/acts-before-durable")
    broken = _broken_rules(calls, state, deps, str(tmp / "audit.jsonl"))
    assert any("started before" in b or "published before" in b for b in broken), broken
