"""The two halves of a reused Docker cell's reset, on real files, without Docker.

`harness.runners.recycle.renew` (the harness's half: the cell's host folders) and
`cellinit.wipe` (the init's half: the container's /tmp, /dev/shm, /dev/mqueue) must
leave the folders empty whatever a candidate put there, follow no link while doing it,
and say so when they cannot.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from harness.runners import recycle
from harness.sandbox import cellinit


def plant(folder: Path, outside: Path) -> None:
    (folder / "file").write_text("x")
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "c").write_text("x")
    (folder / "locked").mkdir()
    (folder / "locked" / "inside").write_text("x")
    (folder / "locked").chmod(0)
    (folder / "link").symlink_to(outside)  # removed, never followed
    (folder / "dirlink").symlink_to(outside.parent)
    os.mkfifo(folder / "fifo")


def user_xattrs_work(folder: Path) -> bool:
    try:
        os.setxattr(folder, "user.probe", b"1")
        os.removexattr(folder, "user.probe")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            return False
        raise
    return True


def test_renew_empties_a_folder_and_gives_back_its_owner_mode_and_no_xattr(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir(mode=0o755)
    outside = tmp_path / "keep.txt"
    outside.write_text("host file")
    before = recycle.Folder.as_now(folder)
    plant(folder, outside)
    folder.chmod(0o777)
    xattrs = user_xattrs_work(folder)
    if xattrs:
        os.setxattr(folder, "user.leak", b"1")
    recycle.renew([before])
    assert list(folder.iterdir()) == []
    assert recycle.Folder.as_now(folder) == before
    assert os.listxattr(folder) == []
    assert outside.read_text() == "host file" and outside.parent.is_dir()


def test_renew_refuses_a_link_in_the_folders_place(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    before = recycle.Folder.as_now(folder)
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious").write_text("x")
    folder.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        recycle.renew([before])
    assert (tmp_path / "elsewhere" / "precious").exists()


def planted(tmp_path: Path) -> tuple[Path, Path]:
    """A folder `plant` filled, and the host file outside it that its links point at."""
    outside = tmp_path / "keep.txt"
    outside.write_text("host file")
    folder = tmp_path / "tmp"
    folder.mkdir()
    plant(folder, outside)
    return folder, outside


def test_wipe_empties_a_folder_following_no_link(tmp_path: Path) -> None:
    """Also what the folder's own user locked (mode 0): the init opens it up first."""
    folder, outside = planted(tmp_path)
    assert cellinit.wipe([str(folder)]) == []
    assert list(folder.iterdir()) == [] and outside.read_text() == "host file"


def test_wipe_says_what_it_could_not_remove(tmp_path: Path) -> None:
    folder, outside = planted(tmp_path)
    here = os.getcwd()
    try:  # deeper than a path can name, or than the init's recursion goes
        os.chdir(folder)
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    left = cellinit.wipe([str(folder)])
    assert len(left) == 1 and left[0].startswith(f"{folder}/d: "), left
    assert sorted(p.name for p in folder.iterdir()) == ["d"]
    assert outside.read_text() == "host file"
    subprocess.run(["rm", "-rf", str(folder / "d")], check=True)  # too deep for rmtree
