"""Host copies of images (harness.container.hostcopy): faithful or refused, and never a
write outside the copy, whatever the image's tar holds (a candidate's Dockerfile makes it)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.container import hostcopy
from harness.container.hostcopy import Refused, extract

KEEP = ["usr", "candidate"]
Member = tuple[tarfile.TarInfo, bytes | None]


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def d(name: str, mode: int = 0o755) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def f(name: str, data: bytes = b"x", mode: int = 0o644, uid: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, uid, uid, 1_600_000_000
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    out.mkdir()
    return out


def everything_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_only_usr_and_the_working_folder_are_copied_with_their_bytes_modes_and_times(
        dest: Path) -> None:
    extract(tar_of(d("etc"), f("etc/passwd", b"root"), d("usr"), d("usr/bin"),
                   f("usr/bin/tool", b"#!/bin/sh\n", 0o755), d("candidate"),
                   f("candidate/main.py", b"print(1)\n"), d("opt"), f("opt/big", b"y")),
            dest, KEEP)
    assert everything_under(dest) == {"usr", "usr/bin", "usr/bin/tool", "candidate",
                                      "candidate/main.py"}
    tool = dest / "usr/bin/tool"
    assert tool.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert tool.stat().st_mtime == 1_600_000_000


def test_symbolic_links_are_kept_as_they_are_even_absolute_ones(dest: Path) -> None:
    # /usr/bin/awk -> /etc/alternatives/awk means the container's /etc, never the host's
    extract(tar_of(d("usr"), d("usr/bin"), link("usr/bin/awk", "/etc/alternatives/awk"),
                   link("usr/bin/python3", "python3.11"), f("usr/bin/python3.11")), dest, KEEP)
    assert os.readlink(dest / "usr/bin/awk") == "/etc/alternatives/awk"
    assert os.readlink(dest / "usr/bin/python3") == "python3.11"


@pytest.mark.parametrize("members", [
    # a link extracted first, then a member through it: would write to the host's folder
    [d("usr"), link("usr/out", "{outside}"), f("usr/out/planted")],
    [d("usr"), link("usr/up", "../../.."), f("usr/up/planted")],
    # a hard link to a host file, to a link, and to a file the copy does not hold
    [d("usr"), link("usr/shadow", "../../../../etc/passwd", tarfile.LNKTYPE)],
    [d("usr"), link("usr/to", "/etc/passwd"), link("usr/hard", "usr/to", tarfile.LNKTYPE)],
    [f("etc/passwd"), d("usr"), link("usr/hard", "etc/passwd", tarfile.LNKTYPE)],
], ids=["through-absolute-link", "through-relative-link", "hard-outside",
        "hard-to-symlink", "hard-to-uncopied"])
def test_a_member_that_would_leave_the_copy_refuses_it(tmp_path: Path, dest: Path,
                                                       members: list[Member]) -> None:
    for info, _ in members:
        info.linkname = info.linkname.replace("{outside}", str(tmp_path))
    before = everything_under(tmp_path.parent)
    with pytest.raises(Refused):
        extract(tar_of(*members), dest, KEEP)
    assert not (tmp_path / "planted").exists() and not (tmp_path.parent / "planted").exists()
    assert everything_under(tmp_path.parent) - before <= {
        str((dest / p).relative_to(tmp_path.parent)) for p in everything_under(dest)}


@pytest.mark.parametrize("name", ["usr/../../planted", "usr/a/../b", "../usr/planted"])
def test_a_name_with_dot_dot_refuses_the_copy(tmp_path: Path, dest: Path, name: str) -> None:
    with pytest.raises(Refused, match="'..'"):
        extract(tar_of(d("usr"), d("usr/a"), f(name)), dest, KEEP)
    assert not (tmp_path / "planted").exists() and not (tmp_path.parent / "planted").exists()


def test_what_is_not_a_tar_refuses_the_copy(dest: Path) -> None:
    with pytest.raises(Refused, match="not a tar"):
        extract(io.BytesIO(b"no tar here" * 100), dest, KEEP)


def test_a_hard_link_inside_the_copy_is_a_hard_link(dest: Path) -> None:
    extract(tar_of(d("usr"), f("usr/a", b"same"), link("usr/b", "usr/a", tarfile.LNKTYPE)),
            dest, KEEP)
    assert (dest / "usr/b").read_bytes() == b"same"
    assert os.stat(dest / "usr/a").st_ino == os.stat(dest / "usr/b").st_ino


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_a_special_file_refuses_the_copy(dest: Path, kind: bytes) -> None:
    with pytest.raises(Refused, match="special file"):
        extract(tar_of(d("usr"), special("usr/node", kind)), dest, KEEP)
    assert not (dest / "usr/node").exists()


def test_setuid_setgid_and_group_writable_bits_are_dropped(dest: Path) -> None:
    extract(tar_of(d("usr"), f("usr/su", mode=0o4755), f("usr/sg", mode=0o2775),
                   d("usr/tmp", 0o1777)), dest, KEEP)
    assert stat.S_IMODE((dest / "usr/su").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "usr/sg").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "usr/tmp").stat().st_mode) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="owners are kept only where the harness is root")
def test_owners_are_kept_by_number(dest: Path) -> None:
    extract(tar_of(d("usr"), f("usr/mine", uid=1000)), dest, KEEP)
    assert (dest / "usr/mine").stat().st_uid == 1000


def test_an_image_too_big_is_refused(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostcopy, "MAX_BYTES", 10)
    with pytest.raises(Refused, match="GiB or"):
        extract(tar_of(d("usr"), f("usr/a", b"123456"), f("usr/b", b"123456")), dest, KEEP)


@pytest.mark.parametrize(("workdir", "rel"), [
    ("/candidate", "candidate"), ("/opt/engine/", "opt/engine"), ("/app/../candidate", "candidate"),
    ("/", None), ("/usr/src/app", None), ("/etc", None), ("/cell", None), ("/tmp/x", None),
    ("/proc", None), ("/harness", None)])
def test_which_working_folders_are_copied(workdir: str, rel: str | None) -> None:
    assert hostcopy._workdir_rel(workdir) == rel


def test_a_working_folder_reached_through_a_link_is_not_bound(tmp_path: Path) -> None:
    copy = tmp_path / "id"
    (copy / "usr").mkdir(parents=True)
    (copy / "real").mkdir()
    (copy / "opt").symlink_to("real")  # the daemon would follow it on the host
    (copy / "app").mkdir()
    (copy / "usr" / "src").symlink_to("/etc")
    assert hostcopy._bind(copy, "usr") == hostcopy.Bind(str(copy / "usr"), "/usr")
    assert hostcopy._bind(copy, "opt") is None and hostcopy._bind(copy, "opt/x") is None
    assert hostcopy._bind(copy, "usr/src") is None and hostcopy._bind(copy, "missing") is None
    assert hostcopy._bind(copy, "app") == hostcopy.Bind(str(copy / "app"), "/app")


def test_a_cache_on_a_noexec_file_system_is_not_used(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A bind mount keeps its source's noexec: no program in a copied /usr could run."""
    monkeypatch.setattr(hostcopy, "root", lambda: tmp_path / "copies")
    assert hostcopy._unfit() == "" and stat.S_IMODE((tmp_path / "copies").stat().st_mode) == 0o700

    class NoExec:
        f_flag = os.ST_NOEXEC

    monkeypatch.setattr(os, "statvfs", lambda _path: NoExec())
    assert "mounted noexec" in hostcopy._unfit()


def test_an_export_too_big_is_stopped_before_it_fills_the_disk(
        dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate's Dockerfile can make a huge image: its export is spooled to the
    host's disk, and stopped at MAX_EXPORT, not read to its end."""
    monkeypatch.setattr(hostcopy, "MAX_EXPORT", 1000)
    read, removed = [], []

    class Api:
        def create_container(self, *_a: object, **_k: object) -> dict[str, str]:
            return {"Id": "c1"}

        def export(self, _cid: str) -> Iterator[bytes]:
            for _ in range(100):
                read.append(1)
                yield b"x" * 300

        def remove_container(self, cid: str, force: bool) -> None:
            removed.append(cid)

    class Client:
        api = Api()

    with pytest.raises(Refused, match="export is over"):
        hostcopy._export(Client(), "sha256:abc", dest, KEEP)
    assert len(read) == 4 and removed == ["c1"] and list(dest.iterdir()) == []
