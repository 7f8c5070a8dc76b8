"""A Docker daemon that fails or hangs gives infra errors with clear messages, retried where
that is safe, and never a candidate failure. The daemon here is a small fake on a unix
socket that speaks just enough of the Docker API (a real daemon cannot be made to fail
on purpose), so these tests need no Docker."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness import api
from harness.container import images
from harness.container.client import connect
from harness.errors import RunnerUnavailableError
from harness.manifest import resolve_candidates
from harness.model import Outcome
from harness.runners.docker import DockerRunner

ROOT = Path(__file__).resolve().parents[2]


class FakeDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, create: str) -> None:
        self.create = create  # "fail" (HTTP 500), "hang", or "hang-all": only ping answers
        self.creates = 0
        self.deletes = 0
        self.hung = 0
        self.stop = threading.Event()  # ends the hanging calls when the test is done
        super().__init__(path, Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client gave up on a hanging call: that is the point of the test


class Handler(BaseHTTPRequestHandler):
    server: FakeDaemon

    def address_string(self) -> str:
        return "fake"

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def hang(self) -> bool:
        """In hang-all mode: never answer (until the test ends); True if it hung."""
        path = self.path.split("?")[0]
        if self.server.create != "hang-all" or path.endswith(("/_ping", "/version")):
            return False
        self.server.hung += 1
        self.server.stop.wait(120)
        return True

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if self.hang():
            return
        if path.endswith("/_ping"):
            data = b"OK"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path.endswith("/version"):
            self.reply(200, {"ApiVersion": "1.41", "Version": "fake"})
        elif path.endswith("/containers/json"):
            self.reply(200, [])
        elif "/images/" in path and path.endswith("/json"):
            self.reply(200, {"Id": "sha256:" + "0" * 64, "RepoTags": []})
        else:
            self.reply(404, {"message": f"fake daemon: no {path}"})

    def do_DELETE(self) -> None:
        if self.hang():
            return
        self.server.deletes += 1
        self.reply(404, {"message": "fake daemon: no such container"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.hang():
            return
        if "/containers/create" in self.path:
            self.server.creates += 1
            if self.server.create == "hang":
                time.sleep(5)
            self.reply(500, {"message": "fake daemon: out of luck"})
        else:
            self.reply(404, {"message": "fake daemon: no such call"})


def serve(tmp_path: Path, mode: str) -> Iterator[tuple[FakeDaemon, str]]:
    sock = tmp_path / "d.sock"
    server = FakeDaemon(str(sock), mode)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server, f"unix://{sock}"
    server.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["fail", "hang"])
def fake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FakeDaemon, str]]:
    yield from serve(tmp_path, request.param)


def harness(url: str, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "harness", "score", "reference", "--runner",
                        "docker", "--scenario", "retry-exhausted", "--out", str(out), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "DOCKER_HOST": url})
    return p, time.monotonic() - t0


def test_failing_or_hanging_daemon_is_an_infra_error_after_retries(
        fake: tuple[FakeDaemon, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, url = fake
    monkeypatch.setenv("DOCKER_HOST", url)
    client = connect(timeout=1)
    runner = DockerRunner(client, print, ahead=False)
    assert runner.base_id == "sha256:" + "0" * 64  # the base image "exists" on the fake
    cand = resolve_candidates(["reference"], ROOT)[0]
    monkeypatch.setattr(images, "candidate_image",
                        lambda *a, **k: ("harness/candidate:fake", "sha256:" + "1" * 64))
    scenario = next(s for s in api.all_scenarios() if s.name == "retry-exhausted")
    cell = api.run_cell(runner, cand, scenario, 1)
    assert server.creates == 3  # creating a container is safe to retry
    assert server.deletes == 2  # each retry first removes what a failed try may have made
    want = "did not answer" if server.create == "hang" else "out of luck"
    assert want in cell.infra_error and "Docker daemon" in cell.infra_error
    assert {r.outcome for r in cell.results} == {Outcome.INFRA_ERROR}


def test_silent_socket_is_no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket that accepts and never answers: found out by the ping's short timeout."""
    import socket

    path = tmp_path / "silent.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(4)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    t0 = time.monotonic()
    with pytest.raises(RunnerUnavailableError, match="no Docker daemon answers"):
        connect(ping_timeout=1)
    assert time.monotonic() - t0 < 10
    srv.close()


def test_daemon_that_answers_ping_but_hangs_fails_the_run_within_30_s(tmp_path: Path) -> None:
    """Every call but ping hangs: one call's timeout, no retries, exit 3, one line."""
    for server, url in serve(tmp_path, "hang-all"):
        p, took = harness(url, tmp_path / "out")
        assert p.returncode == 3, p.stderr
        assert took < 30, (took, p.stderr)
        assert server.hung == 1  # the first real call hung, and was not repeated
        assert "Traceback" not in p.stderr + p.stdout
        errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "did not answer" in errors[0], p.stderr


def test_a_run_whose_cells_hit_a_failing_daemon_writes_them_and_exits_3(tmp_path: Path) -> None:
    """The daemon refuses every container: the cells are infra_error (not counted against
    the candidate), results.json still holds them, and the run exits 3, not 0 or 1."""
    for _, url in serve(tmp_path, "fail"):
        p, _ = harness(url, tmp_path / "out", "--fail-under", "5")
        assert p.returncode == 3, p.stderr
        assert "Traceback" not in p.stderr + p.stdout
        assert "could not be judged" in p.stderr and "out of luck" in p.stderr
        doc = json.loads((tmp_path / "out" / "results.json").read_text())
        assert doc["complete"] is True
        cells = doc["candidates"]["reference"]["cells"]
        assert len(cells) == 1 and "out of luck" in cells[0]["infra_error"]
        assert (tmp_path / "out" / "index.html").is_file()
