"""A cell's wall-clock limit judges the candidate instead of crashing or excusing it.

A hanging engine (tests/fixtures/hostile_engine.py hang: it sleeps for an hour) under
the local runner with a small --cell-timeout: harness finishes with 0 or 1 (never 3,
never a traceback), the cell is judged, not an infra_error, and the checks that needed
the engine to finish fail with the limit as their evidence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
LIMIT_S = 8

pytestmark = pytest.mark.slow


def hanging_candidate(tmp_path: Path) -> Path:
    folder = tmp_path / "hang"
    folder.mkdir()
    shutil.copy2(FIXTURES / "hostile_engine.py", folder / "hostile_engine.py")
    (folder / "candidate.toml").write_text(
        'name = "hang"\nlanguage = "python"\n'
        'entrypoint = ["python3", "hostile_engine.py", "hang"]\n')
    return folder


def test_a_hanging_engine_is_judged_at_the_cell_limit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "harness", "score", str(hanging_candidate(tmp_path)),
                        "--runner", "local", "--scenarios", str(FIXTURES / "limit"),
                        "--cell-timeout", str(LIMIT_S), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "TMPDIR": str(tmp_path)})
    took = time.monotonic() - t0
    assert p.returncode in (0, 1), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert LIMIT_S <= took < LIMIT_S + 30, took
    doc = json.loads((out / "results.json").read_text())
    cand = doc["candidates"]["hang"]
    (cell,) = cand["cells"]
    assert cell["infra_error"] == ""
    assert f"wall-clock limit of {LIMIT_S} s" in cell["cell_limit"]
    (run,) = cell["timeline"]["invocations"]  # the procedure stopped: no status call
    assert run["returncode"] is None and f"wall-clock limit of {LIMIT_S} s" in run["fault"]
    assert LIMIT_S - 0.5 <= run["end"] - run["start"] <= LIMIT_S + 10
    verdicts = {c["check"]: c for c in cand["checks"]}
    for name in ("dag.exit_zero", "crash.completes"):
        assert verdicts[name]["outcome"] == "fail", verdicts[name]
        seen = verdicts[name]["evidence"][0]["seen"]
        assert f"no exit (killed at the cell's wall-clock limit of {LIMIT_S} s)" in seen, seen
    assert cand["tally"]["infra_error"] == 0
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith("harness-")]
    assert leftovers == []  # the cell and its engine are gone
