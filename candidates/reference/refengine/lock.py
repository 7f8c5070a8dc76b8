"""The single-writer lock: an exclusive flock on the STATE_DIR directory itself.

Properties kept on purpose:
- Taking the lock creates and changes no file, so a refused second engine (exit 4)
  leaves STATE_DIR exactly as it was, and it is refused at once (LOCK_NB), not after
  a wait.
- The kernel drops a flock when its holder dies, however it dies, so a lock left by
  a dead engine never blocks; there is no lock file to go stale.
- The descriptor is close-on-exec, so step processes never inherit (and never prolong)
  the lock.
"""

from __future__ import annotations

import fcntl
import os


class Locked(Exception):
    """Another live engine holds the lock."""


def acquire(state_dir: str) -> int:
    """Take the lock; returns the descriptor that holds it (close it to release)."""
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Locked(f"another engine is running on {state_dir}") from None
    return fd
