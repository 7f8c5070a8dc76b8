"""The single-writer lock: an exclusive flock on the STATE_DIR directory itself.

The kernel releases a flock when its holder dies, however it dies, so a lock left by
a dead engine never blocks. Taking it changes no file. The descriptor is
close-on-exec, so steps never inherit (and never prolong) it.
"""

from __future__ import annotations

import fcntl
import os


class Locked(Exception):
    """Another live engine holds the lock."""


def acquire(state_dir: str) -> int:
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Locked(f"another engine is running on {state_dir}") from None
    return fd
