"""Host copies of images (harness.container.hostcopy) as cells see them: the same files
as the image's own, read-only, and none where the image cannot be copied faithfully."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.container import hostcopy
from harness.manifest import load_candidate
from harness.model import Candidate
from harness.runners.docker import DockerCell, DockerRunner

pytestmark = pytest.mark.docker

REPORT = """\
import hashlib, json, os
def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
try:
    open("/usr/planted", "w")
    wrote = 0
except OSError as exc:
    wrote = exc.errno
lib = "/usr/lib/python3.11"
print(json.dumps({
    "mounts": [line.split()[4] for line in open("/proc/self/mountinfo")],
    "python": digest(os.path.realpath("/usr/bin/python3")), "self": digest(__file__),
    "cwd": os.getcwd(), "wrote": wrote,
    "lib": sorted((n, os.lstat(os.path.join(lib, n)).st_mode) for n in os.listdir(lib)),
    "setuid": [p for p in ("/usr/local/bin/suid",) if os.path.exists(p)
               and os.stat(p).st_mode & 0o4000],
}))
"""


def reporter(tmp_path: Path, name: str, dockerfile: str = "") -> Candidate:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "report.py").write_text(REPORT)
    (folder / "marker").write_text(f"{tmp_path}\n")  # an image no other run has built
    manifest = f'name = "{name}"\nlanguage = "python"\nentrypoint = ["python3", "report.py"]\n'
    if dockerfile:
        (folder / "Dockerfile").write_text(dockerfile)
        manifest += '[docker]\ndockerfile = "Dockerfile"\nworkdir = "/opt/engine"\n'
    (folder / "candidate.toml").write_text(manifest)
    return load_candidate(folder)


def report(runner: DockerRunner, cand: Candidate) -> dict[str, Any]:
    cell = runner.open_cell(cand, "report")
    assert isinstance(cell, DockerCell)
    try:
        proc = cell.start([])
        assert proc.wait(60) == 0, proc.output()
        found: dict[str, Any] = json.loads(proc.output()[0])
        return found
    finally:
        cell.close()


def test_a_cell_reads_the_copy_and_finds_the_images_own_files(
        tmp_path: Path, client: docker.DockerClient) -> None:
    cand = reporter(tmp_path, "copied")
    with DockerRunner(client, print, copies=True) as runner:
        copied = report(runner, cand)
    with DockerRunner(client, print, copies=False) as runner:
        own = report(runner, cand)
    assert {"/usr", "/candidate"} <= set(copied["mounts"])
    assert "/usr" not in own["mounts"] and "/candidate" not in own["mounts"]
    for key in ("python", "self", "cwd", "lib"):
        assert copied[key] == own[key], key
    assert copied["wrote"] == own["wrote"] == errno.EROFS


def test_the_working_folder_from_the_context_is_the_images_own(
        tmp_path: Path, client: docker.DockerClient) -> None:
    """The working folder of a harness-built image is extracted from its build context,
    not from the image: it must be the same files, bytes, modes and owners."""
    cand = reporter(tmp_path, "context")
    runner = DockerRunner(client, print, copies=True)
    try:
        _, image_id = runner.image_for(cand)
        binds = hostcopy.for_candidate(client, cand, image_id).binds
    finally:
        runner.close()
    work = next(Path(b.host) for b in binds if b.target == "/candidate")
    exported = tmp_path / "exported"
    exported.mkdir()
    hostcopy._export(client, image_id, exported, ["candidate"])

    def tree(root: Path) -> dict[str, tuple[int, int, bytes | None]]:
        return {str(p.relative_to(root)): (stat.S_IMODE(p.lstat().st_mode), p.lstat().st_uid,
                                           p.read_bytes() if p.is_file() else None)
                for p in [root, *root.rglob("*")]}

    assert tree(work) == tree(exported / "candidate")


def test_an_image_with_a_special_file_runs_from_its_own_files(
        tmp_path: Path, client: docker.DockerClient) -> None:
    cand = reporter(tmp_path, "fifo", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /opt/engine\n"
                    "RUN mkfifo /usr/local/fifo && chmod -R a+rX /opt/engine\n")
    said: list[str] = []
    with DockerRunner(client, said.append, copies=True) as runner:
        found = report(runner, cand)
        image_id = runner.image_for(cand)[1]
    assert any("no host copy" in s and "special file" in s for s in said), said
    assert "/usr" not in found["mounts"] and "/opt/engine" not in found["mounts"]
    made = [p.name for p in (hostcopy.root() / image_id.removeprefix("sha256:")).iterdir()]
    assert made and all(name.endswith(".REFUSED") for name in made), made
    client.images.remove(image_id, force=True)
    assert image_id.removeprefix("sha256:") in hostcopy.collect(client)
    assert not (hostcopy.root() / image_id.removeprefix("sha256:")).exists()


def test_a_setuid_file_of_a_dockerfile_is_copied_without_its_bit_and_gc_removes_the_copy(
        tmp_path: Path, client: docker.DockerClient) -> None:
    cand = reporter(tmp_path, "suid", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /opt/engine\n"
                    "RUN cp /usr/bin/true /usr/local/bin/suid && chmod 4755 /usr/local/bin/suid"
                    " && chmod -R a+rX /opt/engine\n")
    with DockerRunner(client, print, copies=True) as runner:
        found = report(runner, cand)
        image_id = runner.image_for(cand)[1]
    with DockerRunner(client, print, copies=False) as runner:
        own = report(runner, cand)
    assert {"/usr", "/opt/engine"} <= set(found["mounts"])
    assert own["setuid"] == ["/usr/local/bin/suid"] and found["setuid"] == []
    home = hostcopy.root() / image_id.removeprefix("sha256:")
    assert not [p for p in home.rglob("*") if not p.is_symlink()
                and p.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID)]
    client.images.remove(image_id, force=True)
    assert image_id.removeprefix("sha256:") in hostcopy.collect(client)
    assert not home.exists() and os.path.isdir(hostcopy.root())
