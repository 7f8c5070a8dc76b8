"""The cell's layout: where inputs, STATE_DIRs and the audit live, as relative paths.

Every runner gives the engine the same three folders under its cell root:

- ``in/``: the workflow files the harness writes. Read-only to the engine where the
  runner can enforce it (Docker).
- ``work/``: the parents of every STATE_DIR. The engine creates its STATE_DIR here,
  so this is the one place besides the audit where it may write.
- ``audit/``: the probe's audit, written by the probe steps the engine runs.

Harness-private files (engine stdout/stderr, snapshots of crash states) live outside
the engine's view, in the cell's ``private`` folder. Of each engine stream the runners
keep the first `STREAM_CAP` bytes, and count the rest.
"""

from __future__ import annotations

IN = "in"
WORK = "work"
AUDIT_DIR = "audit"
ENGINE_DIRS = (IN, WORK, AUDIT_DIR)

WORKFLOW = f"{IN}/workflow.json"
STATE = f"{WORK}/state"
LOG = f"{STATE}/events.jsonl"
OUTPUTS = f"{STATE}/outputs"
AUDIT = f"{AUDIT_DIR}/audit.jsonl"

STREAM_CAP = 4 << 20  # bytes of an engine's stdout, and of its stderr, that runners keep


def input_file(name: str) -> str:
    return f"{IN}/{name}"


def state_dir(name: str) -> str:
    return f"{WORK}/{name}"
