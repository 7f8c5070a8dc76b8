"""A run killed with SIGKILL at seeded moments, then resumed: nothing finished is lost,
nothing finished runs again, and the result equals an uninterrupted run's.

The kills are real `kill -9`s of the harness process: from outside after a seeded delay,
and from inside at a seeded point of the k-th cell's commit to results.sqlite (before
it, between the row's INSERT and COMMIT, just after it), through the store's test seam
`HARNESS_TEST_KILL_AT_COMMIT`; timing alone would seldom land inside a commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness import store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Five short scenarios whose verdicts on the reference hang on no timing.
CHOSEN = ("changed-workflow", "corrupt-middle", "invalid-workflow", "retry-exhausted",
          "timeout-kills-group")
HARNESS = [str(Path(sys.executable).parent / "harness")]


SCENARIOS = Path(__file__).parent / "resume-scenarios"  # made once per session, below


@pytest.fixture(scope="module", autouse=True)
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> None:
    global SCENARIOS
    SCENARIOS = tmp_path_factory.mktemp("scenarios")
    for name in CHOSEN:
        (SCENARIOS / f"{name}.toml").write_bytes((ROOT / "scenarios" / f"{name}.toml").read_bytes())


def command(out: Path, *extra: str) -> list[str]:
    return [*HARNESS, "score", "reference", "--runner", "local", "--scenarios", str(SCENARIOS),
            "--jobs", "1", "--out", str(out), *extra]


def run(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(out, *extra), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def rows(out: Path) -> dict[tuple[Any, ...], tuple[int, str]]:
    """Every committed cell: key -> (run id, stored result), read without writing."""
    conn = sqlite3.connect(f"file:{out / store.FILE}?mode=ro", uri=True)
    try:
        return {tuple(r[:5]): (r[5], r[6]) for r in conn.execute(
            "SELECT candidate_digest, scenario_digest, seed, trial, runner, run_id, result"
            " FROM cells")}
    finally:
        conn.close()


def outcomes(out: Path) -> dict[tuple[str, str], str]:
    doc = json.loads((out / "results.json").read_text())
    return {(x["scenario"], x["check"]): x["outcome"]
            for c in doc["candidates"].values() for x in c["checks"]}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    out = tmp_path_factory.mktemp("whole")
    done = run(out)
    assert done.returncode == 0, done.stderr
    found = outcomes(out)
    assert found and set(found.values()) <= {"pass", "not_exercised"}
    return found


def resume_and_compare(out: Path, before: dict[tuple[Any, ...], tuple[int, str]],
                       uninterrupted: dict[tuple[str, str], str]) -> None:
    killed_doc = json.loads((out / "results.json").read_text())
    assert killed_doc["complete"] is False  # the killed run's files never pass for a result
    assert "running" in killed_doc["stopped"]
    again = run(out, "--resume")
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} already done in results.sqlite" in " ".join(again.stderr.split())
    after = rows(out)
    for key, (run_id, result) in before.items():  # no finished cell lost or run again
        assert after[key] == (run_id, result)
    assert len(after) == 5
    assert outcomes(out) == uninterrupted
    doc = json.loads((out / "results.json").read_text())
    assert doc["complete"] is True and "stopped" not in doc


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_mid_commit_then_resume(tmp_path: Path, seed: int,
                                     uninterrupted: dict[tuple[str, str], str]) -> None:
    rng = random.Random(seed)
    k, phase = rng.randint(1, 5), rng.choice(["before", "inside", "after"])
    killed = run(tmp_path, env={store.KILL_ENV: f"{k}:{phase}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = rows(tmp_path)
    assert len(before) == (k - 1 if phase in ("before", "inside") else k), (k, phase)
    resume_and_compare(tmp_path, before, uninterrupted)


@pytest.mark.parametrize("seed", [4, 5])
def test_kill_from_outside_at_a_seeded_moment(tmp_path: Path, seed: int,
                                              uninterrupted: dict[tuple[str, str], str]) -> None:
    # The moment counts from when the run has opened its store and written its first
    # results.json, not from exec: on a loaded machine the start alone can outlast a delay
    # counted from exec, and a kill before the store exists tests nothing about resuming.
    delay = random.Random(seed).uniform(0.0, 2.5)
    proc = subprocess.Popen(command(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ((tmp_path / store.FILE).exists() and (tmp_path / "results.json").exists()):
        assert proc.poll() is None, "the run ended before it opened its store"
        assert time.monotonic() < deadline, "the run never opened its store"
        time.sleep(0.02)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = rows(tmp_path)
    assert len(before) < 5, "the kill came after the run ended; choose a shorter delay"
    resume_and_compare(tmp_path, before, uninterrupted)


def test_a_run_without_resume_starts_afresh(tmp_path: Path) -> None:
    first = run(tmp_path, env={store.KILL_ENV: "2:after"})
    assert first.returncode == -signal.SIGKILL
    assert len(rows(tmp_path)) == 2
    fresh = subprocess.run([*HARNESS, "score", "reference", "--runner", "local", "--scenario",
                            "invalid-workflow", "--out", str(tmp_path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    assert len(rows(tmp_path)) == 1  # the earlier run's cells are gone, not mixed in
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [c["scenario"] for c in doc["candidates"]["reference"]["cells"]] == ["invalid-workflow"]


@pytest.mark.serial  # counts cell processes machine-wide
def test_kill_of_a_pooled_run_ends_its_workers_and_engines_then_resumes(
        tmp_path: Path, uninterrupted: dict[tuple[str, str], str]) -> None:
    """With --jobs 2 the cells run in worker processes: a kill -9 of the harness takes
    them with it (PR_SET_PDEATHSIG), their reapers end every engine, and --resume finds
    every cell committed before the kill."""
    from tests.integration.test_executors import no_cell_processes

    argv = [arg if arg != "1" else "2" for arg in command(tmp_path)]  # --jobs 2
    assert argv[argv.index("--jobs") + 1] == "2"
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / store.FILE).exists():
        time.sleep(0.1)
    time.sleep(random.Random(6).uniform(1.0, 2.5))
    workers = children(proc.pid)
    assert len(workers) >= 2, workers  # the pool's worker processes (and its resource tracker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while [w for w in workers if alive(w)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [w for w in workers if alive(w)] == []  # the workers died with the harness
    assert no_cell_processes() == []  # and so did every reaper and engine
    before = rows(tmp_path)
    assert len(before) < 5, "the kill came after the run ended; choose a shorter delay"
    resume_and_compare(tmp_path, before, uninterrupted)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
