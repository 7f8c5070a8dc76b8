"""No container outlives its run: after a normal run, after Ctrl-C, and after kill -9 of the
harness followed by the next run. Containers are found by the owner labels the harness
puts on them, so other harness runs on this machine are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def owned_by(client: docker.DockerClient, pid: int) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"harness.owner.pid={pid}"})


def cell_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("harness-docker-*"))


def score(tmp_path: Path, scenario: str) -> subprocess.Popen[bytes]:
    cells = tmp_path / "cells"
    cells.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "score", "reference", "--runner", "docker",
         "--scenario", scenario, "--out", str(tmp_path / "out")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(cells)})


def wait_for_container(client: docker.DockerClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not owned_by(client, proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no container started within 120 s"
        time.sleep(0.1)
    time.sleep(1.0)  # let the engine get going inside


def test_normal_run_leaves_nothing(tmp_path: Path, client: docker.DockerClient) -> None:
    proc = score(tmp_path, "retry-exhausted")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert owned_by(client, proc.pid) == []
    assert cell_dirs(tmp_path / "cells") == []


def test_ctrl_c_leaves_nothing(tmp_path: Path, client: docker.DockerClient) -> None:
    proc = score(tmp_path, "retry-backoff")
    wait_for_container(client, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert owned_by(client, proc.pid) == []
    assert cell_dirs(tmp_path / "cells") == []


def test_kill_9_then_the_next_run_collects(tmp_path: Path, client: docker.DockerClient) -> None:
    proc = score(tmp_path, "retry-backoff")
    wait_for_container(client, proc)
    proc.kill()
    proc.communicate()
    left = owned_by(client, proc.pid)
    assert left, "the container should still exist: nothing removed it yet"
    deadline = time.monotonic() + 30
    for c in left:  # the init saw the harness go, ended every process, and exited
        c.reload()
        while c.status != "exited":
            assert time.monotonic() < deadline, c.status
            time.sleep(0.1)
            c.reload()
    assert cell_dirs(tmp_path / "cells")
    nxt = score(tmp_path, "retry-exhausted")
    _, err = nxt.communicate(timeout=300)
    assert nxt.returncode == 0, err
    assert b"left by harness runs that were killed" in err
    assert owned_by(client, proc.pid) == []
    assert owned_by(client, nxt.pid) == []
    assert cell_dirs(tmp_path / "cells") == []
