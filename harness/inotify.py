"""Linux inotify through ctypes: which files in a folder were written in place.

The outputs watcher needs to know whether `outputs/ID` was ever written to after it
appeared under that name (a reader could then have seen a partial file), whatever the
timing: polling sees only the moments it happens to look, the kernel's event queue
sees every write. Only the standard library is used (ctypes and libc).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_HEADER = struct.Struct("iIII")
_libc = ctypes.CDLL(None, use_errno=True)


class InotifyError(OSError):
    pass


@dataclass(frozen=True, slots=True)
class Event:
    folder: str
    name: str
    mask: int

    @property
    def is_dir(self) -> bool:
        return bool(self.mask & IN_ISDIR)


class Inotify:
    """A non-blocking inotify instance; `read()` returns what happened since the last call."""

    def __init__(self) -> None:
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise InotifyError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd: int | None = fd
        self._folders: dict[int, str] = {}
        self.overflowed = False

    def watch(self, folder: str, mask: int, label: str = "") -> bool:
        """Watch folder; False if it does not exist (any more). Its events name it by
        label when one is given (folder may be a /proc/self/fd path that is closed soon)."""
        assert self.fd is not None
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(folder), mask)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise InotifyError(code, f"inotify_add_watch {folder}: {os.strerror(code)}")
        self._folders[wd] = label or folder
        return True

    def read(self) -> list[Event]:
        assert self.fd is not None
        found: list[Event] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            at = 0
            while at + _HEADER.size <= len(data):
                wd, mask, _cookie, size = _HEADER.unpack_from(data, at)
                raw = data[at + _HEADER.size: at + _HEADER.size + size]
                at += _HEADER.size + size
                if mask & IN_Q_OVERFLOW:
                    self.overflowed = True
                    continue
                folder = self._folders.get(wd)
                if folder is None or mask & IN_IGNORED:
                    continue
                found.append(Event(folder, os.fsdecode(raw.rstrip(b"\0")), mask))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
