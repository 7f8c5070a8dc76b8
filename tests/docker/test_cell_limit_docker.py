"""The cell's wall-clock limit under Docker: the harness's own limit ends a hanging engine
and the cell is judged (not an infra_error, not a ConnectionResetError traceback), and
the container is gone afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from harness.container.client import MANAGED

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
LIMIT_S = 8


def test_a_hanging_engine_is_judged_at_the_cell_limit(tmp_path: Path,
                                                      client: docker.DockerClient) -> None:
    hang = tmp_path / "hang"
    hang.mkdir()
    shutil.copy2(FIXTURES / "hostile_engine.py", hang / "hostile_engine.py")
    (hang / "candidate.toml").write_text('name = "hang"\nlanguage = "python"\n'
                                         'entrypoint = ["python3", "hostile_engine.py", "hang"]\n')
    out = tmp_path / "out"
    t0 = time.monotonic()
    with subprocess.Popen([sys.executable, "-m", "harness", "score", str(hang), "--runner",
                           "docker", "--scenarios", str(FIXTURES / "limit"), "--cell-timeout",
                           str(LIMIT_S), "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as p:
        stdout, stderr = p.communicate(timeout=180)
    took = time.monotonic() - t0
    assert p.returncode in (0, 1), stderr
    assert "Traceback" not in stderr + stdout
    assert took < LIMIT_S + 60, took
    (cell,) = json.loads((out / "results.json").read_text())["candidates"]["hang"]["cells"]
    assert cell["infra_error"] == "" and f"limit of {LIMIT_S} s" in cell["cell_limit"]
    checks = json.loads((out / "results.json").read_text())["candidates"]["hang"]["checks"]
    for chk in checks:
        if chk["check"] in ("dag.exit_zero", "crash.completes"):
            assert chk["outcome"] == "fail"
            assert f"killed at the cell's wall-clock limit of {LIMIT_S} s" in chk["evidence"][0]["seen"]
    mine = [c for c in client.containers.list(all=True, filters={"label": f"{MANAGED}=1"})
            if c.labels.get("harness.owner.pid") == str(p.pid)]
    assert mine == []  # the cell's container was removed
