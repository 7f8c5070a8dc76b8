"""The output folder of a run: made, checked writable and locked before any cell runs.

A run that can not write its results must say so at once, not after every cell ran;
and two runs writing into one folder would silently overwrite each other's files. So
`claim` makes the folder, refuses what cannot hold a report (a file, a path below a
file, a place where nothing can be created) with a `UsageError` (exit 2), and takes an
exclusive `flock` on a lock file inside, held until the run ends (the kernel drops it
when the process dies, so a killed run never leaves a stale lock). The lock file says
which run holds it (pid, host, start time), so the run that is refused can name it.
The lock file is never removed: unlinking a locked file lets a third run lock a new
file of the same name while a second still holds the old one.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import UsageError

LOCK_NAME = ".harness.lock"


def _make(path: Path, option: str) -> None:
    """path as an existing folder, or UsageError naming what is in the way."""
    if path.is_dir():
        return
    for parent in (path, *path.parents):
        if os.path.lexists(parent) and not parent.is_dir():
            what = ("is a file, not a folder" if parent == path
                    else f"lies below {parent}, which is a file, not a folder")
            raise UsageError(f"{option} {path}: {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create the folder:"
                         f" {exc.strerror or exc}") from None


def _holder(fd: int) -> str:
    """Who holds the lock, as the lock file says: "pid P on host H, started T"."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw)
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that did not say who it is"


def _lock(path: Path, option: str) -> int:
    """An open descriptor of path's lock file, exclusively locked by this process."""
    lock_path = path / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UsageError(f"{option} {path}: not writable ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise UsageError(f"{option} {path}: in use by another harness run ({holder});"
                             " wait for it or choose another folder") from None
        raise UsageError(f"{option} {path}: cannot lock {lock_path}: {exc.strerror}") from None
    return fd


def _record(fd: int, path: Path, option: str) -> None:
    """Say in the lock file which run holds it; this write also proves the folder writable."""
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise UsageError(f"{option} {path}: not writable ({exc.strerror or exc})") from None


@contextmanager
def claim(path: Path, option: str = "--out") -> Iterator[Path]:
    """path (absolute), made if missing, writable and locked for as long as the block runs.

    UsageError (exit 2), with a one-line message, when it cannot be: the message names
    the file in the way, the error, or the run that holds the lock."""
    path = path.absolute()
    _make(path, option)
    fd = _lock(path, option)
    _record(fd, path, option)
    try:
        yield path
    finally:
        os.close(fd)  # releases the lock


def fsync_dir(folder: Path) -> None:
    """Make folder's entries durable (a file created or renamed into it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
