"""No container outlives its run: after a normal run, after Ctrl-C, and after kill -9 of the
harness followed by the next run. Containers are found by the owner labels the harness
puts on them, so other harness runs on this machine are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from harness.container.client import Listed, list_labelled

# serial: other harness runs on this machine rightly collect a killed run's containers,
# so these tests run alone (make test runs the serial tests after the parallel ones).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.serial]
ROOT = Path(__file__).resolve().parents[2]


def owned_by(client: docker.DockerClient, pid: int) -> list[Listed]:
    return list_labelled(client, f"harness.owner.pid={pid}")


def tree(pid: int) -> list[int]:
    """pid and its living descendants (a pooled run's workers own their containers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def owned_by_tree(client: docker.DockerClient, pids: list[int]) -> list[Listed]:
    return [c for p in pids for c in owned_by(client, p)]


def cell_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("harness-docker-*"))


def cell_mounts(tmp: Path) -> list[str]:
    """Mount points below tmp (each cell's tmpfs, where the harness runs as root)."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(f"{tmp}/")]


@contextmanager
def score(tmp_path: Path, scenario: str, *more: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `harness score` run in the background; killed and reaped however the test ends."""
    cells = tmp_path / "cells"
    cells.mkdir(exist_ok=True)
    with subprocess.Popen(
            [sys.executable, "-m", "harness", "score", "reference", "--runner", "docker",
             "--scenario", scenario, "--out", str(tmp_path / "out"), *more],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "TMPDIR": str(cells)}) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()  # leaving the with closes the pipes and reaps it


def status(client: docker.DockerClient, cid: str) -> str:
    return str(client.api.inspect_container(cid)["State"]["Status"])


def wait_for_container(client: docker.DockerClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not owned_by(client, proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no container started within 120 s"
        time.sleep(0.1)
    time.sleep(1.0)  # let the engine get going inside


def test_normal_run_leaves_nothing(tmp_path: Path, client: docker.DockerClient) -> None:
    with score(tmp_path, "retry-exhausted") as proc:
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert owned_by(client, proc.pid) == []
    assert cell_dirs(tmp_path / "cells") == []


def test_ctrl_c_leaves_nothing(tmp_path: Path, client: docker.DockerClient) -> None:
    with score(tmp_path, "retry-backoff") as proc:
        wait_for_container(client, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert owned_by(client, proc.pid) == []
    assert cell_dirs(tmp_path / "cells") == []


def test_ctrl_c_of_a_pooled_run_leaves_nothing(tmp_path: Path,
                                               client: docker.DockerClient) -> None:
    """Two workers, each with a container of its own; Ctrl-C reaches the harness alone."""
    with score(tmp_path, "retry-*", "--jobs", "2") as proc:
        deadline = time.monotonic() + 120
        while len(running := owned_by_tree(client, pids := tree(proc.pid))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"two containers never ran at once: {running}"
            time.sleep(0.1)
        assert proc.pid not in {int(c.labels["harness.owner.pid"]) for c in running}
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert owned_by_tree(client, pids) == [], err.decode()
    assert cell_dirs(tmp_path / "cells") == []


def test_kill_9_then_the_next_run_collects(tmp_path: Path, client: docker.DockerClient) -> None:
    with score(tmp_path, "retry-backoff") as proc:
        wait_for_container(client, proc)
        proc.kill()
        proc.communicate()
    left = owned_by(client, proc.pid)
    assert left, "the container should still exist: nothing removed it yet"
    deadline = time.monotonic() + 30
    for c in left:  # the init saw the harness go, ended every process, and exited
        while (state := status(client, c.id)) != "exited":
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
    assert cell_dirs(tmp_path / "cells")
    if os.geteuid() == 0:  # kill -9 ran no clean-up: the cells' tmpfs are still mounted
        assert sorted(cell_mounts(tmp_path / "cells")) == [str(d) for d in cell_dirs(tmp_path / "cells")]
    with score(tmp_path, "retry-exhausted") as nxt:
        _, err = nxt.communicate(timeout=300)
    assert nxt.returncode == 0, err
    assert b"left by harness runs that were killed" in err
    assert owned_by(client, proc.pid) == []
    assert owned_by(client, nxt.pid) == []
    assert cell_dirs(tmp_path / "cells") == []
    assert cell_mounts(tmp_path / "cells") == []
