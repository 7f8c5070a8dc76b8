"""Step outputs: where an attempt writes (ENGINE_OUTPUT), and publishing it exactly once.

Properties kept on purpose:
- ENGINE_OUTPUT is STATE_DIR/work/KEY.ATTEMPT.out: on STATE_DIR's file system, unique
  per step and attempt (KEY encodes any step id injectively as a safe file name).
- Publishing follows a durable STEP_SUCCEEDED: fsync the attempt's file, then
  hard-link it to outputs/ID, then fsync outputs/. A link is atomic and never
  replaces, so a reader sees nothing or one successful attempt's whole file, and
  EEXIST means "published before a crash": it is left as it is. Nothing is ever
  written in place and no temporary file is ever made inside outputs/.
- `publish_missing` repairs a crash between STEP_SUCCEEDED and the link on resume.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import urllib.parse
from typing import Any

from refengine.eventlog import fsync_dir


@functools.lru_cache(maxsize=65536)  # the scheduler asks for each step's, per attempt
def file_key(step: str) -> str:
    """A file name for a step id: injective, never containing '/', readable for usual ids."""
    key = urllib.parse.quote(step, safe="")
    if len(key) > 100:  # stay far below NAME_MAX; "%h" never occurs in quote's output
        key = "%h" + hashlib.sha256(step.encode("utf-8")).hexdigest()
    return key


def attempt_output(state_dir: str, step: str, attempt: int) -> str:
    """The ENGINE_OUTPUT path of an attempt (absolute when state_dir is)."""
    return os.path.join(state_dir, "work", f"{file_key(step)}.{attempt}.out")


def publishable(step: str) -> bool:
    """Whether outputs/ID names a file inside outputs/ (the contract fixes the name)."""
    return step not in ("", ".", "..") and "/" not in step and "\0" not in step \
        and len(step.encode("utf-8")) <= 255


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(state_dir: str, step: str, attempt: int) -> None:
    """Publish a succeeded attempt's output, if it made one; call after STEP_SUCCEEDED."""
    src = attempt_output(state_dir, step, attempt)
    try:
        if not stat.S_ISREG(os.lstat(src).st_mode):
            return  # only a regular file is an output; a symlink is never followed
    except FileNotFoundError:
        return  # the attempt created no output
    if not publishable(step):
        print(f"engine: step {step!r}: its id cannot name a file in outputs/, so its"
              f" output stays at {src}", file=sys.stderr)
        return
    outdir = os.path.join(state_dir, "outputs")
    os.makedirs(outdir, exist_ok=True)
    _fsync_file(src)  # the data is durable before any name points at it
    try:
        os.link(src, os.path.join(outdir, step))
    except FileExistsError:
        return  # published before a crash: publishing again would be a second time
    fsync_dir(outdir)


def publish_missing(state_dir: str, events: list[dict[str, Any]]) -> None:
    """On resume: publish every succeeded step's output that a crash left unpublished."""
    for e in events:
        if e["type"] == "STEP_SUCCEEDED":
            publish(state_dir, e["step"], e["attempt"])
