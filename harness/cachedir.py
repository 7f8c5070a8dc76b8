"""The harness's own files that outlive a run: `$XDG_CACHE_HOME/harness` (default
`~/.cache/harness`), falling back to the temp dir when that cannot be made.

Lock files live here, not in the temp dir: a lock file cannot be removed safely while
another process may wait on it, so it stays, and the temp dir is where cells are made
and where nothing of a finished run may be left behind."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the exclusive lock called name (a file under root()/locks) while inside."""
    folder = root() / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    with open(folder / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
