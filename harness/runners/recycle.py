"""A reused Docker cell's host folders, put back as they were when its container was made.

A container that runs one cell after another keeps its bind mounts, and a bind mount
holds a folder's inode, not its path: so each mounted folder is emptied in place, never
replaced. Everything the ended cell could change on it goes back: its entries (removed
through the folder's descriptor, never following a link), its extended attributes
(``user.*`` and POSIX ACLs, which a candidate that owns the folder may set), its owner,
its mode and its times. The cell's init has ended every process in the container and
said so before this runs, so nothing races it.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder and the owner and mode it must have at the start of every cell."""

    path: Path
    mode: int
    uid: int
    gid: int

    @classmethod
    def as_now(cls, path: Path) -> Folder:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(f"{path} is not a folder")
        return cls(path, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def renew(folders: Sequence[Folder]) -> None:
    """Empty each folder and give it back its owner, mode and no extended attribute.

    Raises OSError when any of it fails: the caller must not reuse the container then."""
    for folder in folders:
        fd = os.open(folder.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            with os.scandir(fd) as entries:
                names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
            for name, is_dir in names:
                if is_dir:
                    shutil.rmtree(name, dir_fd=fd)  # fd-based: never follows a link
                else:
                    os.unlink(name, dir_fd=fd)
            for attr in os.listxattr(fd):
                os.removexattr(fd, attr)
            os.fchown(fd, folder.uid, folder.gid)
            os.fchmod(fd, folder.mode)
            os.utime(fd)
            if os.listdir(fd) or os.listxattr(fd):
                raise OSError(f"{folder.path} is not empty after it was emptied")
        finally:
            os.close(fd)
