"""The Docker sandbox holds against a hostile candidate (tests/fixtures/hostile_engine.py).

Each test lets the candidate try something, then checks what the host saw, not only
what the candidate says: connections the host's server accepted, files that appeared
on the host, the limits the harness recorded in the cell's results.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness import api, layout
from harness.errors import CellLimitReached
from harness.manifest import load_candidate
from harness.model import Candidate, Outcome, Scenario
from harness.runners.docker import BACKSTOP_S, DockerCell, DockerRunner, Limits

pytestmark = pytest.mark.docker
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile_engine.py"


def hostile(tmp_path: Path, mode: str) -> Candidate:
    folder = tmp_path / f"hostile-{mode}"
    folder.mkdir()
    shutil.copy2(FIXTURE, folder / "hostile_engine.py")
    (folder / "candidate.toml").write_text(
        f'name = "hostile-{mode}"\nlanguage = "python"\n'
        f'entrypoint = ["python3", "hostile_engine.py", "{mode}"]\n')
    return load_candidate(folder)


def run_once(runner: DockerRunner, cand: Candidate, args: list[str]) -> tuple[int | None, dict[str, object]]:
    cell = runner.open_cell(cand, "sandbox")
    try:
        proc = cell.start(args)
        code = proc.wait(60)
        out, err = proc.output()
        assert code == 0, err
        return code, json.loads(out)
    finally:
        cell.close()


def clean_run() -> Scenario:
    return next(s for s in api.all_scenarios() if s.name == "clean-run")


@pytest.fixture
def host_server() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on the host's loopback that records every connection it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
                accepted.append(addr)
                conn.close()
            except TimeoutError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join()
    srv.close()


def test_no_network(tmp_path: Path, docker_runner: DockerRunner, client: docker.DockerClient,
                    host_server: tuple[int, list[object]]) -> None:
    port, accepted = host_server
    ipam = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    bridge = ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
    targets = [f"127.0.0.1:{port}", f"{bridge}:{port}", "1.1.1.1:53"]
    _, seen = run_once(docker_runner, hostile(tmp_path, "net"), targets)
    assert seen["interfaces"] == ["lo"]
    tried = dict(seen["connect"])  # type: ignore[call-overload]
    assert tried[f"127.0.0.1:{port}"] == "ECONNREFUSED"  # the container's own, empty loopback
    assert tried[f"{bridge}:{port}"] == tried["1.1.1.1:53"] == "ENETUNREACH", tried
    assert seen["dns"] != "resolved"
    assert accepted == []  # ground truth: the host's server never saw the candidate


def test_writes_only_where_allowed(tmp_path: Path, docker_runner: DockerRunner) -> None:
    cand = hostile(tmp_path, "write")
    before = sorted(p.name for p in cand.path.iterdir())
    places = ["/", "/etc", "/usr", "/candidate", "/harness", "/run/harness", "/cell",
              f"/cell/{layout.IN}", f"/cell/{layout.WORK}", f"/cell/{layout.AUDIT_DIR}", "/tmp",
              "/run/io", "/proc/1", "/sys/fs/cgroup"]
    _, seen = run_once(docker_runner, cand, places)
    wrote = {k for k, v in dict(seen["wrote"]).items() if v == "written"}  # type: ignore[call-overload]
    # STATE_DIRs' parent and the audit; besides them only the container's private /tmp
    # (emptied before the next cell: tests/docker/test_reuse_docker.py) and the engine's
    # own stdout/stderr folder.
    assert wrote == {f"/cell/{layout.WORK}", f"/cell/{layout.AUDIT_DIR}", "/tmp", "/run/io"}, seen
    assert seen["uid"] != 0
    assert seen["cap_eff"] == "0000000000000000"
    assert seen["no_new_privs"] == "1"
    # the memory cgroup's OOM kills an engine first, never the init (back at its own score)
    assert (seen["oom_score_adj"], seen["init_oom_score_adj"]) == ("1000", "0"), seen
    assert sorted(p.name for p in cand.path.iterdir()) == before  # the host copy is untouched


def test_pids_limit_is_recorded(tmp_path: Path, client: docker.DockerClient) -> None:
    with DockerRunner(client, print, Limits(pids=48)) as runner:
        cell = api.run_cell(runner, hostile(tmp_path, "forkbomb"), clean_run(), 1)
    assert not cell.infra_error
    assert cell.extra["sandbox"]["limits_hit"].get("pids_limit_hits", 0) >= 1, cell.extra["sandbox"]


def test_memory_limit_is_recorded(tmp_path: Path, client: docker.DockerClient) -> None:
    with DockerRunner(client, print, Limits(memory_mb=128)) as runner:
        cell = api.run_cell(runner, hostile(tmp_path, "memory"), clean_run(), 1)
    assert not cell.infra_error
    hit = cell.extra["sandbox"]["limits_hit"]
    assert hit.get("memory_oom_kills", 0) >= 1, hit
    first_run = cell.extra["timeline"]["invocations"][0]
    assert first_run["returncode"] == -9  # the kernel's OOM killer, as the harness saw it


def test_wall_clock_backstop_inside_is_judged(tmp_path: Path, client: docker.DockerClient) -> None:
    """The init's deadline is a backstop beyond the harness's own limit (here the harness's
    is left at 600 s so the backstop fires first): the cell it ends is judged, not infra."""
    with DockerRunner(client, print, Limits(wall_s=3)) as runner:
        cell = api.run_cell(runner, hostile(tmp_path, "hang"), clean_run(), 1)
    assert not cell.infra_error, cell.infra_error
    assert "wall-clock limit of 3 s" in cell.extra["cell_limit"]
    exit_zero = next(r for r in cell.results if r.check == "dag.exit_zero")
    assert exit_zero.outcome is Outcome.FAIL
    assert "wall-clock limit of 3 s" in exit_zero.evidence[0].seen
    assert cell.duration_s < 3 + BACKSTOP_S + 20


def test_wall_clock_limit_is_enforced_outside(tmp_path: Path, docker_runner: DockerRunner,
                                              client: docker.DockerClient) -> None:
    cell = docker_runner.open_cell(hostile(tmp_path, "hang"), "outside")
    assert isinstance(cell, DockerCell)
    try:
        cell.start(["run"])
        cell._outside_deadline()  # what the timer does when the init did not end the cell
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(cell.container.id)
        with pytest.raises(CellLimitReached, match="wall-clock limit"):
            cell.alive([(1, None)])
    finally:
        cell.close()


def test_a_closed_cell_is_ended_at_once_and_its_container_gone_when_the_runner_closes(
        tmp_path: Path, client: docker.DockerClient) -> None:
    """Without reuse, a cell's close ends every process and removes its folder before it
    returns; the container's removal is the runner's, in the background, and done by its
    close. (With reuse: tests/docker/test_reuse_docker.py.)"""
    with DockerRunner(client, print, reuse=False) as runner:
        cell = runner.open_cell(hostile(tmp_path, "hang"), "discard")
        assert isinstance(cell, DockerCell)
        cell.start(["run"])
        cell.close()
        assert not cell.base.exists()
        cell.close()  # twice is safe
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(cell.container.id)


def test_alive_asks_the_init_once_per_process_and_hears_of_its_death(
        tmp_path: Path, docker_runner: DockerRunner) -> None:
    """The init watches each process it was asked about by a pidfd and pushes its death:
    later ticks ask it nothing, yet a death is seen, and a pid reused by another process
    (another start time) is not taken for the one that died."""
    cell = docker_runner.open_cell(hostile(tmp_path, "hang"), "watch")
    assert isinstance(cell, DockerCell)
    try:
        proc = cell.start(["x"], wrap=["sh", "-c", "exec sleep 60", "sh"])
        me = (proc.pid, None)
        assert cell.alive([me]) == {proc.pid}
        asked = cell._next_id
        assert cell.alive([me]) == {proc.pid}
        assert cell._next_id == asked  # answered from what the init pushed
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while cell.alive([me]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cell.alive([me]) == set()
        assert cell.alive([(proc.pid, 12345)]) == set()  # another start time: asked, dead
    finally:
        cell.close()
