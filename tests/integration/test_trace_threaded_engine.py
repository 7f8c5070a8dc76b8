"""A correct engine that fsyncs on another thread, recorded and struck under strace.

tests/fixtures/syncer-thread is the reference with every fsync of its process made on one
worker thread (the syncer) while the caller waits: correct by the contract, written
differently from the reference. Its clean-run, recorded as in test_trace_reference
(tests/trace_run.py), must break no durability rule: the log's writes are on the main
thread, their fsyncs on the syncer, one process. Its crash points must include the
syncer's fsyncs, each named by the syncer's own count (strace counts per thread), and a
strike at one, tracing the whole tree, must kill the engine there, leaving the log the
recording had just before that call. Run as a cell (the local runner), it must pass every
check of clean-run (the durability checks judge its traced run 1) and of crash-loop
(whose kills are struck at the syncer's fsyncs).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import api
from harness.faults.exact import traced_alone
from harness.manifest import load_candidate
from harness.model import Outcome
from harness.runners.local import LocalRunner
from harness.trace import Kind, durability_calls
from harness.trace.plan import crash_points, inject_argv, log_before
from harness.trace.rules import RULES, judge
from tests.trace_run import run_traced

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]

SYNCER = Path(__file__).resolve().parents[1] / "fixtures" / "syncer-thread"
_VOLATILE = re.compile(rb'"(ts|pid|pgid)":-?[0-9.eE+-]+')


def test_fsyncs_on_a_worker_thread_break_no_rule_and_are_struck_there(
        root: Path, tmp_path: Path) -> None:
    tmp = tmp_path.resolve()
    calls, state, _ = run_traced(root, tmp, SYNCER)
    mapped = durability_calls(calls, str(state))
    writes = [d.call for d in mapped if d.kind is Kind.LOG_WRITE]
    syncs = [d.call for d in mapped if d.kind is Kind.SYNC and d.file == "events.jsonl"]
    assert {(c.pid, c.proc) for c in writes} | {(c.pid, c.proc) for c in syncs} == {
        (writes[0].pid, writes[0].proc), (syncs[0].pid, writes[0].proc)}
    assert syncs[0].pid != writes[0].pid  # the syncer: another thread, the same process
    assert judge(mapped) == {name: [] for name in RULES}

    points = crash_points(mapped)
    on_syncer = [p for p in points if mapped[p.index].call.pid == syncs[0].pid]
    assert on_syncer and not any("threads" in p.ambiguous for p in points)  # one per call
    assert not traced_alone(calls, mapped, points)
    point = next(p for p in on_syncer if p.path == "events.jsonl" and p.ordinal == 2)
    assert not point.ambiguous  # no step's command touches the log
    assert mapped[point.index].call.pid != mapped[point.index].call.proc

    again = tmp / "work" / "struck"
    entry = tomllib.loads((SYNCER / "candidate.toml").read_text())["entrypoint"]
    env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
           "HOME": str(tmp / "home"), "TMPDIR": str(tmp / "home"), "LANG": "C.UTF-8"}
    argv = inject_argv([*entry, "run", str(tmp / "workflow.json"), str(again)], point, str(again))
    done = subprocess.run(argv, cwd=tmp / "engine", env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode(errors="replace")[-2000:]
    left = (again / "events.jsonl").read_bytes()
    assert _VOLATILE.sub(b"", left) == _VOLATILE.sub(b"", log_before(mapped, point))


@pytest.mark.parametrize("scenario", ["clean-run", "crash-loop"])
def test_the_syncer_engine_passes_every_check(scenario: str) -> None:
    cell = api.run_cell(LocalRunner(), load_candidate(SYNCER),
                        api.all_scenarios(pattern=scenario)[0], 7)
    # crash-loop's crash.lost_recorded can go not exercised on a loaded machine (where
    # its recording's attempts ran moves with load, as for every engine): never a fail
    judged = [r for r in cell.results
              if not (scenario == "crash-loop" and r.outcome is Outcome.NOT_EXERCISED)]
    assert [r for r in judged if r.outcome is not Outcome.PASS] == []
    [rec] = cell.extra["recordings"].values()
    assert rec["traced_alone"] is False and "fsync" in rec["syscalls"]
    exact = [f for f in cell.extra.get("faults", []) if f["kind"] == "exact"]
    assert all(f["struck"] for f in exact) and (exact or scenario == "clean-run")
