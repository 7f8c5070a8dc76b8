"""A reused container carries nothing of one cell into the next (DockerRunner's reuse).

A hostile candidate (tests/fixtures/leaky_engine.py) leaves what it can: a background
process, files in /tmp, /dev/shm and every other folder it may write, a POSIX message
queue, System V IPC objects, an extended attribute and a mode on /cell/work, and hits
on the pids limit. The next cell of the same image runs in the same container, and
neither it nor the harness finds any of it. What the init cannot remove makes the
runner give the next cell a new container instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.manifest import load_candidate
from harness.model import Candidate
from harness.runners.docker import DockerCell, DockerRunner, Limits

pytestmark = pytest.mark.docker
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "leaky_engine.py"


def leaky(tmp_path: Path) -> Candidate:
    folder = tmp_path / "leaky"
    folder.mkdir()
    shutil.copy2(FIXTURE, folder / "leaky_engine.py")
    (folder / "candidate.toml").write_text(
        'name = "leaky"\nlanguage = "python"\nentrypoint = ["python3", "leaky_engine.py"]\n')
    return load_candidate(folder)


def run(cell: DockerCell, mode: str) -> dict[str, Any]:
    proc = cell.start([mode])
    assert proc.wait(60) == 0, proc.output()
    found: dict[str, Any] = json.loads(proc.output()[0])
    return found


def test_a_hostile_cells_leftovers_never_reach_the_next_cell(tmp_path: Path,
                                                             client: docker.DockerClient) -> None:
    cand = leaky(tmp_path)
    with DockerRunner(client, print, Limits(pids=48)) as runner:
        first = runner.open_cell(cand, "plant")
        assert isinstance(first, DockerCell)
        planted = run(first, "plant")
        # everything was really left behind (or the test could not fail)
        assert planted["pids_limit"] and first.limits().get("pids_limit_hits", 0) >= 1
        assert planted["daemon"] in {p["pid"] for p in first.processes()}
        assert planted["mqueue"] >= 0 and min(planted["sysv"].values()) >= 0, planted
        assert {"/tmp", "/dev/shm", "/cell/work", "/cell/audit", "/run/io"} <= set(planted["written"])
        assert (first.root / "work" / "leak").exists() and (first.io / "leak").exists()
        container = first.container.id
        first.close()

        second = runner.open_cell(cand, "look")
        assert isinstance(second, DockerCell)
        try:
            assert second.container.id == container  # the same container, reused
            assert second.processes() == []
            assert second.limits().get("pids_limit_hits", 0) == 0
            seen = run(second, "look")
            assert seen["procs"] == []
            assert seen["files"] == ["/run/io/0.err", "/run/io/0.out"]  # its own streams
            assert seen["ipc"] == {"shm": [], "sem": [], "msg": []}
            assert seen["work_xattrs"] == [] and seen["work_mode"] == planted["work_mode"]
            assert sorted(p.name for p in second.root.iterdir()) == ["audit", "in", "work"]
            assert [list(d.iterdir()) for d in (second.root / "work", second.root / "audit",
                                                second.root / "in", second.private)] == [[]] * 4
        finally:
            second.close()


def test_what_the_init_cannot_remove_gets_the_next_cell_a_new_container(
        tmp_path: Path, client: docker.DockerClient) -> None:
    cand = leaky(tmp_path)
    with DockerRunner(client, print) as runner:
        first = runner.open_cell(cand, "deep")
        assert isinstance(first, DockerCell)
        run(first, "deep")
        container = first.container.id
        first.close()
        assert first.left and first.left[0].startswith("/tmp/d"), first.left
        second = runner.open_cell(cand, "look")
        assert isinstance(second, DockerCell)
        try:
            assert second.container.id != container
            assert run(second, "look")["files"] == ["/run/io/0.err", "/run/io/0.out"]
        finally:
            second.close()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container)


def test_a_kept_container_and_its_folder_go_when_the_runner_closes(
        tmp_path: Path, client: docker.DockerClient) -> None:
    with DockerRunner(client, print) as runner:
        cell = runner.open_cell(leaky(tmp_path), "kept")
        assert isinstance(cell, DockerCell)
        cell.close()
        cell.close()  # twice is safe
        assert cell.base.exists()  # kept for the next cell, emptied
    assert not cell.base.exists()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(cell.container.id)
