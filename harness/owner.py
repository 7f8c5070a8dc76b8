"""Which harness process owns a cell, so leftovers of a killed harness can be collected.

A harness killed with SIGKILL runs no clean-up. Its processes end by themselves (the
reaper or the container's init sees the harness go), but its cell folders and stopped
containers stay. Each is therefore marked with its owner: host, pid and the pid's start
time, so that a reused pid is not taken for the owner. The next run, or `harness gc`,
removes what belongs to owners that are gone, unmounting a cell's tmpfs
(`harness.cellfs`) before it removes the folder.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import cellfs, procfs

OWNER_FILE = "owner"
CELL_PREFIX = "harness-"


@dataclass(frozen=True, slots=True)
class Owner:
    host: str
    pid: int
    start: int | None

    def alive(self) -> bool:
        return self.host == socket.gethostname() and procfs.is_alive(self.pid, self.start)

    def text(self) -> str:
        return f"{self.host} {self.pid} {self.start}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.split()
        if len(parts) != 3:
            return None
        try:
            return cls(parts[0], int(parts[1]), None if parts[2] == "None" else int(parts[2]))
        except ValueError:
            return None


def me() -> Owner:
    st = procfs.read_stat(os.getpid())
    return Owner(socket.gethostname(), os.getpid(), st.starttime if st else None)


def mark(cell_dir: Path) -> None:
    (cell_dir / OWNER_FILE).write_text(me().text() + "\n")


def sweep(base: Path | None = None) -> list[Path]:
    """Remove cell folders under base (default: the temp dir) whose owner is gone."""
    base = base or Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for d in entries:
        if not d.name.startswith(CELL_PREFIX) or not d.is_dir():
            continue
        try:
            owner = Owner.parse((d / OWNER_FILE).read_text())
        except OSError:
            continue  # not a marked cell folder: not ours to judge
        if owner is not None and not owner.alive():
            cellfs.remove(d)  # its tmpfs first, where it has one
            removed.append(d)
    return removed
