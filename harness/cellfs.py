"""A cell's writable space: a size-limited tmpfs mounted at the cell's folder.

Everything a cell writes on the host lives under its folder: the engine's STATE_DIRs
and audit, its stdout and stderr files, its HOME and TMPDIR (local runner), and the
harness's snapshots of crash states. Where the harness may mount (it runs as root),
that folder is a fresh tmpfs of `SIZE_MB`, with a bounded number of inodes, mounted
before anything is written there: an engine that fills its disk fills its cell, never
the host. One file system for the whole cell keeps hard links (publication) and
inotify working as on any folder. Where it may not, the cell has no disk limit, and
`describe()` of the cell says so.

A tmpfs outlives a harness killed with SIGKILL; `harness.owner.sweep` unmounts it
(through `remove`) before it removes the folder.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

SIZE_MB = 256
INODES = 32768
SOURCE = "harness-cell"  # the mount's source name in /proc/self/mountinfo
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH, UMOUNT_NOFOLLOW = 2, 8
FULL_BELOW = 1 << 20  # bytes free under which a file system counts as full

_libc = ctypes.CDLL(None, use_errno=True)


def limit(folder: Path, size_mb: int = SIZE_MB) -> str:
    """Mount a fresh tmpfs of size_mb at folder (empty, made by the caller); say what
    the cell's disk limit is, for the cell's describe()."""
    opts = f"size={size_mb}m,nr_inodes={INODES},mode=0700"
    rc = _libc.mount(SOURCE.encode(), os.fsencode(folder), b"tmpfs", MS_NOSUID | MS_NODEV,
                     opts.encode())
    if rc == 0:
        return f"tmpfs {size_mb} MiB"
    err = ctypes.get_errno()
    if err == errno.EPERM:
        return "no limit: not root" if os.geteuid() != 0 else "no limit: mount not permitted"
    return f"no limit: cannot mount a tmpfs ({os.strerror(err)})"


def remove(folder: Path) -> None:
    """Unmount the tmpfs at folder, if there is one, and remove the folder.

    MNT_DETACH: a file the harness still holds open must not keep the mount in place;
    the kernel frees the tmpfs when the last such file closes."""
    for _ in range(8):  # a folder mounted over more than once is unmounted to the bottom
        if not os.path.ismount(folder):
            break
        if _libc.umount2(os.fsencode(folder), MNT_DETACH | UMOUNT_NOFOLLOW) != 0:
            break  # not ours to unmount (not root): remove what we can
    shutil.rmtree(folder, ignore_errors=True)


def full(folder: Path) -> bool:
    """Whether the file system of folder has (next to) no space or no inode left: a write
    of the harness's that failed there failed because the engine filled its cell."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW or st.f_favail == 0
