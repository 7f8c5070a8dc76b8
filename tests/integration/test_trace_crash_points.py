"""Crash points struck live on the reference engine's clean-run (issue 13 item 2).

The clean-run is recorded once under `strace_argv`, outside the runners, as in
test_trace_reference (with tests/trace_run.py's `merged`). Then, for a seeded sample of
its crash points (the first and the last always in), the engine runs again from an empty
STATE_DIR under `inject_argv`: it must die by SIGKILL at that call, leaving the log as
the recording had it just before the call took effect; a plain `run` must then finish
the workflow, keeping the log's complete lines, every output published once. Striking
the same point twice must leave the same log, and striking the next call must not. The
fan steps run one at a time (see `_one_at_a_time`) so that the engine's calls come in
one order in every run. The resume judgement is shown to fail on two mutants that break
recovery, at a kill before join.

Log lines carry what no two runs share (``ts``, a step's ``pid`` and ``pgid``); the log is
compared line by line with those values masked, every other byte exact, a torn final line
included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.runners.local import PROBE
from harness.scenario import workflow_bytes
from harness.trace import DurabilityCall, durability_calls, parse_trace, strace_argv
from harness.trace.plan import CrashPoint, choose, crash_points, inject_argv, log_before
from tests.trace_run import merged

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]

SEED, LIMIT = 13, 6
PUBLISHED = {"prepare", "fan-a", "fan-c", "join"}  # the clean-run steps with an output
_VOLATILE = re.compile(rb'"(ts|pid|pgid)":-?[0-9.eE+-]+')


@dataclass(frozen=True, slots=True)
class Cell:
    """A folder with the merged engine, the workflow and the environment TASK.md gives."""

    tmp: Path
    engine: Path
    workflow: Path
    entry: tuple[str, ...]
    env: dict[str, str]

    def argv(self, verb: str, state: Path) -> list[str]:
        args = [str(self.workflow), str(state)] if verb == "run" else [str(state)]
        return [*self.entry, verb, *args]

    def call(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(argv, cwd=self.engine, env=self.env, capture_output=True,
                              timeout=60)


def _one_at_a_time(workflow: dict[str, Any]) -> dict[str, Any]:
    """clean-run's workflow with max_parallel 1 and the fan steps' sleeps at 0.1 s.

    Side by side, the fan steps end in an order that timing decides (even with sleeps
    0.3 s apart, a loaded machine once let fan-b's success be written before fan-a's), so
    the n-th write to the log would carry a different event from one run to the next: a
    kill at an ordinal lands on the same call number but not on the same event. One at a
    time, in file order, every run writes the same events in the same calls."""
    workflow = {**workflow, "max_parallel": 1}
    for step in workflow["steps"]:
        if step.get("depends_on") == ["prepare"]:
            at = step["probe"].index("--sleep")
            step["probe"] = [*step["probe"][:at + 1], "0.1", *step["probe"][at + 2:]]
    return workflow


def _cell(root: Path, tmp: Path, name: str = "reference") -> Cell:
    scenario = tomllib.loads((root / "scenarios" / "clean-run.toml").read_text())
    (tmp / "home").mkdir(parents=True)
    wf = tmp / "workflow.json"
    probe = [sys.executable, "-I", "-S", str(PROBE)]
    wf.write_bytes(workflow_bytes(_one_at_a_time(scenario["workflow"]), probe,
                                  str(tmp / "audit.jsonl")))
    source = root / "candidates" / name
    entry = tomllib.loads((source / "candidate.toml").read_text())["entrypoint"]
    env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
           "HOME": str(tmp / "home"), "TMPDIR": str(tmp / "home"), "LANG": "C.UTF-8"}
    return Cell(tmp, merged(source, tmp / "engine"), wf, tuple(entry), env)


def _record(cell: Cell) -> tuple[list[DurabilityCall], Path]:
    state, trace = cell.tmp / "recorded" / "state", cell.tmp / "trace.txt"
    state.parent.mkdir()
    done = cell.call(strace_argv(cell.argv("run", state), str(trace)))
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return durability_calls(parse_trace(trace.read_text()), str(state)), state


def _log(state: Path) -> bytes:
    """The log's bytes (none before the engine created it)."""
    path = state / "events.jsonl"
    return path.read_bytes() if path.exists() else b""


def _masked(log: bytes) -> list[bytes]:
    return [_VOLATILE.sub(rb'"\1":_', line) for line in log.splitlines(keepends=True)]


def _strike(cell: Cell, point: CrashPoint, name: str) -> Path:
    """A fresh STATE_DIR, the engine killed in it at point; the STATE_DIR."""
    state = cell.tmp / name / "state"
    state.parent.mkdir()
    done = cell.call(inject_argv(cell.argv("run", state), point, str(state)))
    # strace re-raises the tracee's SIGKILL on itself: a shell sees 137, Popen -9
    assert done.returncode == -signal.SIGKILL, (point, done.returncode, done.stderr[-2000:])
    return state


def _resumed(cell: Cell, state: Path) -> list[str]:
    """What is wrong after a plain `run` resumes state ([]: nothing)."""
    wrong, before = [], _log(state)
    kept = before[:before.rfind(b"\n") + 1]  # its complete lines: a torn tail may be cut
    done = cell.call(cell.argv("run", state))
    if done.returncode != 0:
        wrong.append(f"run exited {done.returncode}: {done.stderr[-500:]!r}")
    if not _log(state).startswith(kept):
        wrong.append("the log's complete lines were not kept")
    events = [json.loads(line) for line in _log(state).splitlines()]
    if not events or events[-1]["type"] != "WORKFLOW_SUCCEEDED":
        wrong.append(f"the log ends in {events[-1]['type'] if events else 'nothing'}")
    status = cell.call(cell.argv("status", state))
    said = json.loads(status.stdout).get("workflow") if status.returncode == 0 else None
    if said != "succeeded":
        wrong.append(f"status exited {status.returncode} saying {said}")
    published = sorted(p.name for p in (state / "outputs").iterdir())
    if published != sorted(PUBLISHED):
        wrong.append(f"outputs/ holds {published}")
    succeeded = [e["step"] for e in events if e["type"] == "STEP_SUCCEEDED"]
    if sorted(succeeded) != sorted(set(succeeded)):
        wrong.append(f"a step succeeded twice: {succeeded}")
    return wrong


@pytest.fixture(scope="module")
def reference(root: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Cell, list[DurabilityCall]]:
    """The reference's cell and its recorded clean-run, shared by this module's tests."""
    cell = _cell(root, tmp_path_factory.mktemp("reference").resolve())
    return cell, _record(cell)[0]


def test_reference_dies_at_each_chosen_point_and_resumes(
        reference: tuple[Cell, list[DurabilityCall]]) -> None:
    cell, calls = reference
    points = [p for p in crash_points(calls) if not p.ambiguous]
    plan = choose(points, SEED, LIMIT)
    assert len(plan.points) == LIMIT and plan.points[0] == points[0] \
        and plan.points[-1] == points[-1]
    for i, point in enumerate(plan.points):
        state = _strike(cell, point, f"plan{i}")
        expected = _masked(log_before(calls, point))
        assert _masked(_log(state)) == expected, point.description
        assert _resumed(cell, state) == [], point.description


def test_the_same_point_struck_twice_leaves_the_same_log(
        reference: tuple[Cell, list[DurabilityCall]]) -> None:
    cell, calls = reference
    point = write_of(calls, "STEP_SUCCEEDED fan-b")
    first, second = (_log(_strike(cell, point, name)) for name in ("twice-a", "twice-b"))
    assert _masked(first) == _masked(second) == _masked(log_before(calls, point))
    assert first != b""
    later = _strike(cell, CrashPoint(point.index, point.syscall, point.path, point.ordinal + 1,
                                     point.role, "the next write"), "next")
    assert _masked(_log(later)) != _masked(first)  # the check sees a kill one call off


def write_of(calls: list[DurabilityCall], event: str) -> CrashPoint:
    """The log write that carries `event` ("STEP_SUCCEEDED fan-b"), alone or in a group
    commit with others: which events share a write depends on when steps end, which a
    loaded machine moves ("the write of STEP_SUCCEEDED fan-a, STEP_SUCCEEDED fan-b")."""
    return next(p for p in crash_points(calls) if p.syscall == "write"
                and event in p.description.split(" of ", 1)[-1].split(", "))


MUTANTS = {"mutants/rerun-succeeded": "succeeded twice",  # the defect, and what shows it
           "mutants/truncating-log": "complete lines were not kept"}


def _before_join(cell: Cell, calls: list[DurabilityCall], name: str) -> list[str]:
    point = write_of(calls, "STEP_STARTED join")
    return _resumed(cell, _strike(cell, point, name))


def test_a_kill_before_join_shows_engines_that_break_recovery(
        root: Path, tmp_path: Path, reference: tuple[Cell, list[DurabilityCall]]) -> None:
    """The resume judgement passes the reference at one point and fails each mutant there."""
    assert _before_join(*reference, "join") == []
    for name, sign in MUTANTS.items():
        cell = _cell(root, tmp_path.resolve() / name.replace("/", "-"), name)
        wrong = _before_join(cell, _record(cell)[0], "join")
        assert any(sign in w for w in wrong), (name, wrong)
