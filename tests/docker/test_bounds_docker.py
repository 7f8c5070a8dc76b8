"""Bounded everything, Docker runner: a greedy engine (tests/fixtures/greedy_engine.py) takes
what it can through the container's mounts, and the host keeps at most the caps.

What is measured is on the host: the cell folder's file system (a tmpfs of the cap) and
its use, the kept stream files, and what is left once the cell is closed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from harness import cellfs, layout
from harness.manifest import load_candidate
from harness.model import Candidate
from harness.observe import Cut
from harness.runners.docker import DockerCell, DockerRunner
from tests.fixtures import greedy_engine

pytestmark = pytest.mark.docker
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "greedy_engine.py"
MIB = 1 << 20
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="a cell's tmpfs needs root to mount")


def greedy(tmp_path: Path, mode: str, entrypoint: list[str] | None = None) -> Candidate:
    folder = tmp_path / f"greedy-{mode}"
    folder.mkdir()
    shutil.copy2(FIXTURE, folder / "greedy_engine.py")
    words = entrypoint or ["python3", "greedy_engine.py", mode]
    (folder / "candidate.toml").write_text(
        f'name = "greedy-{mode}"\nlanguage = "python"\nentrypoint = {json.dumps(words)}\n')
    return load_candidate(folder)


def used(folder: Path) -> int:
    st = os.statvfs(folder)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def mounted(folder: Path) -> bool:
    return any(line.split()[4] == str(folder)
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def gone(cell: DockerCell, runner: DockerRunner) -> None:
    """A closed cell's folder keeps nothing for the next cell in its container (reuse);
    the runner's close takes the folder and its tmpfs."""
    assert used(cell.base) < MIB
    runner.close()
    assert not cell.base.exists() and not mounted(cell.base)


def open_cell(runner: DockerRunner, cand: Candidate) -> DockerCell:
    cell = runner.open_cell(cand, "bounds")
    assert isinstance(cell, DockerCell)
    return cell


@ROOT_ONLY
def test_a_flood_is_cut_to_the_cap(tmp_path: Path, docker_runner: DockerRunner) -> None:
    cell = open_cell(docker_runner, greedy(tmp_path, "flood"))
    try:
        assert mounted(cell.base) and cell.describe()["disk"] == f"tmpfs {cellfs.SIZE_MB} MiB"
        proc = cell.start(["run", "/cell/in/workflow.json", "/cell/work/state"])
        assert proc.wait(120) == 3
        out, err = proc.output()
        assert len(out) == len(err) == layout.STREAM_CAP
        assert proc.cuts() == (
            Cut(greedy_engine.FLOOD_OUT_MB * MIB, layout.STREAM_CAP),
            Cut(greedy_engine.FLOOD_ERR_MB * MIB + 1 + len(greedy_engine.LAST_WORDS),
                layout.STREAM_CAP))
        assert used(cell.base) < 32 * MIB  # the two kept files, never the flood
    finally:
        cell.close()
    gone(cell, docker_runner)


@ROOT_ONLY
@pytest.mark.serial  # it measures the host file system's use: another test's writes (an
# image's build, its host copy) beside it would count as the cell's
def test_a_disk_filler_fills_only_its_cell(tmp_path: Path, docker_runner: DockerRunner) -> None:
    cell = open_cell(docker_runner, greedy(tmp_path, "fill"))
    host_before = used(Path(os.environ.get("TMPDIR", "/tmp")))  # after the image and its copy
    try:
        proc = cell.start(["run", "/cell/in/workflow.json", "/cell/work/state"])
        assert proc.wait(120) == 3
        assert (cellfs.SIZE_MB - 8) * MIB < used(cell.base) <= cellfs.SIZE_MB * MIB
        assert cellfs.full(cell.root) and cell.limits().get("disk_full") == 1
        growth = used(Path(os.environ.get("TMPDIR", "/tmp"))) - host_before
        assert growth < cellfs.SIZE_MB * MIB // 2, growth
    finally:
        cell.close()
    assert not cellfs.full(cell.root)  # the next cell in the container has it all again
    gone(cell, docker_runner)


def test_stderr_written_just_before_exit_is_never_lost(tmp_path: Path,
                                                        docker_runner: DockerRunner) -> None:
    words = greedy_engine.LAST_WORDS.decode().strip()
    cand = greedy(tmp_path, "lastwords", ["sh", "-c", f"echo '{words}' >&2; exit 3"])
    cell = open_cell(docker_runner, cand)
    lost = []
    try:
        for i in range(200):
            proc = cell.start([])
            code = proc.wait(30)
            err = proc.output()[1]
            if code != 3 or err != greedy_engine.LAST_WORDS or proc.cuts() != (None, None):
                lost.append((i, code, err))
    finally:
        cell.close()
    assert lost == []


def test_a_grandchild_holding_stdout_delays_nothing(tmp_path: Path,
                                                    docker_runner: DockerRunner) -> None:
    script = "(while :; do echo tick; sleep 0.05; done) & echo bye >&2; exit 5"
    cell = open_cell(docker_runner, greedy(tmp_path, "grandchild", ["sh", "-c", script]))
    try:
        proc = cell.start([])
        t0 = time.monotonic()
        assert proc.wait(30) == 5
        assert time.monotonic() - t0 < 2.0
        assert proc.output()[1] == b"bye\n"
        time.sleep(0.3)
        assert proc.output()[0].count(b"tick\n") >= 2  # still drained after the exit
    finally:
        t0 = time.monotonic()
        cell.close()
    assert time.monotonic() - t0 < 15.0
