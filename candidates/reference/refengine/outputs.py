"""Publishing step outputs atomically and exactly once.

STEP_SUCCEEDED is made durable first; then the attempt's file is fsynced and hard-linked
to outputs/ID. A link is atomic and never replaces: if outputs/ID exists, the output
was already published, and it stays as it is. A crash between the two is repaired on
the next run by `publish_missing`. No temporary file is ever made inside outputs/.
"""

from __future__ import annotations

import os
from typing import Any


def attempt_output(state_dir: str, step: str, attempt: int) -> str:
    """The ENGINE_OUTPUT path of an attempt: inside STATE_DIR, unique per attempt."""
    safe = step.encode("utf-8").hex()  # any step id becomes a safe file name
    return os.path.join(state_dir, "work", f"{safe}.{attempt}.out")


def _fsync_path(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(state_dir: str, step: str, attempt: int) -> None:
    src = attempt_output(state_dir, step, attempt)
    if not os.path.isfile(src) or os.path.islink(src):
        return
    outdir = os.path.join(state_dir, "outputs")
    os.makedirs(outdir, exist_ok=True)
    _fsync_path(src)
    try:
        os.link(src, os.path.join(outdir, step))
    except FileExistsError:
        return  # published before a crash: publishing again would be a second time
    _fsync_path(outdir, os.O_RDONLY | os.O_DIRECTORY)


def publish_missing(state_dir: str, events: list[dict[str, Any]]) -> None:
    for e in events:
        if e["type"] == "STEP_SUCCEEDED":
            publish(state_dir, e["step"], e["attempt"])
