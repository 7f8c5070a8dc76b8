"""The reference makes the launchers of its next queued steps ahead (refengine's
`supervisor.Ahead`); none of them may ever show as an attempt.

A run with more ready steps than max_parallel has launchers made ahead while its slots
are full. Stopped by SIGTERM, or killed outright, it must leave no process and no file of
an attempt its log does not name: every launcher made ahead and not taken reads EOF and
exits 125, running and creating nothing, and the next `run` starts from the log alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

MAIN = Path(__file__).resolve().parents[2] / "candidates" / "reference" / "main.py"


def workflow(tmp: Path, steps: int, command: list[str]) -> Path:
    wf = tmp / "wf.json"
    wf.write_text(json.dumps({"name": "ahead", "max_parallel": 2, "steps": [
        {"id": f"s{i}", "command": command} for i in range(steps)]}))
    return wf


def events(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (state / "events.jsonl").read_text().splitlines() if x]


def wait_for_starts(state: Path, n: int, until: float) -> None:
    while time.monotonic() < until:
        if (state / "events.jsonl").exists() and \
                sum(e["type"] == "STEP_STARTED" for e in events(state)) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} STEP_STARTED in time")


def members(pgids: set[int]) -> list[int]:
    """Live (not zombie) processes in any of these groups."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) in pgids and fields[0] not in (b"Z", b"X"):
            found.append(int(name))
    return found


def children_of(pid: int) -> list[int]:
    """Children of every thread of pid (each thread's own are listed apart)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_stopped_run_leaves_nothing_of_the_attempts_it_never_started(
        tmp_path: Path, stop: str) -> None:
    state = tmp_path / "state"
    wf = workflow(tmp_path, 12, ["sleep", "30"])
    engine = subprocess.Popen([sys.executable, str(MAIN), "run", str(wf), str(state)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_starts(state, 2, time.monotonic() + 20)
        time.sleep(0.3)  # launchers for the next queued steps are made meanwhile
        held = [p for p in children_of(engine.pid)
                if p not in {e["pid"] for e in events(state) if e["type"] == "STEP_STARTED"}]
        assert held, "the engine made no launcher ahead: the premise never came about"
        engine.send_signal(getattr(signal, stop))
        code = engine.wait(timeout=20)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
    log = events(state)
    started = [e for e in log if e["type"] == "STEP_STARTED"]
    assert len(started) == 2, "max_parallel 2: only two attempts ever started"
    assert sorted(p.name for p in (state / "logs").iterdir()) == \
        sorted(f"{e['step']}.1.log" for e in started), "no log of an attempt never started"
    if stop == "SIGTERM":
        assert code == 128 + signal.SIGTERM
        assert members({int(e["pgid"]) for e in started}) == []
    until = time.monotonic() + 10
    while time.monotonic() < until and members(set(held)):
        time.sleep(0.02)
    assert members(set(held)) == [], "a launcher made ahead outlived the engine"
    for e in started:  # after SIGKILL the two steps run on, as the contract allows
        try:
            os.killpg(int(e["pgid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_run_that_makes_launchers_ahead_still_runs_each_step_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    wf = workflow(tmp_path, 40, ["sh", "-c", 'echo "$ENGINE_STEP_ID $$" >> "$ENGINE_STATE_DIR/ran"'])
    done = subprocess.run([sys.executable, str(MAIN), "run", str(wf), str(state)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = events(state)
    started = {e["step"]: e["pid"] for e in log if e["type"] == "STEP_STARTED"}
    ran = dict(line.split() for line in (state / "ran").read_text().splitlines())
    assert len(started) == 40 and {k: int(v) for k, v in ran.items()} == started
    assert len((state / "ran").read_text().splitlines()) == 40, "each command ran once"
