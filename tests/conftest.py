"""Shared fixtures: the repository root and the bundled candidates."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cellcache import LocalCells, shared_cells

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def local_cells(tmp_path_factory: pytest.TempPathFactory) -> LocalCells:
    """Run a local cell, or read it back if another test of this session ran it."""
    return shared_cells(tmp_path_factory)


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of `harness score model-a model-b reference` (local runner, seed
    11), run through the CLI as a user runs it: results.json and the report files beside
    it. The bundled-candidate and the browser tests share it.

    It is made once per test run, also with pytest-xdist: the workers share a folder, and
    a lock on it makes the first one score while the others wait for its result. Two cells
    at a time, with the suite running beside it on the same cores: the crash scenarios
    kill at exact calls, so the verdicts must not move with that load either."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "bundled"
    with open(shared / "bundled.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "results.json").exists():
            shutil.rmtree(out, ignore_errors=True)
            p = subprocess.run([sys.executable, "-m", "harness", "score", "model-a", "model-b",
                                "reference", "--runner", "local", "--seed", "11", "--jobs", "2",
                                "--out", str(out)],
                               cwd=ROOT, capture_output=True, text=True, timeout=1500)
            if p.returncode != 0 or "Traceback" in p.stderr:
                shutil.rmtree(out, ignore_errors=True)
                pytest.fail(f"harness score failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return out
