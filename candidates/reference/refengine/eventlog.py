"""The append-only event log: durable appends, replay, torn-tail and damage detection.

Properties kept on purpose:
- An event is one `os.write` of the whole line to an O_APPEND descriptor, then
  `fsync`, before the caller acts on it. A crash can therefore tear only the last line.
- The final line is torn when it lacks its newline or is not valid JSON. `run` cuts it
  (`truncate`); `status` only ignores it. Anything else that is wrong (an earlier
  line that is not a JSON object, a seq that is not 1, 2, 3 ..., an unknown type or a
  missing field) is damage: the caller exits 3 and no byte is changed.
- The file is never opened in a truncating mode.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

FIELDS = {
    "WORKFLOW_STARTED": ("workflow", "digest"),
    "WORKFLOW_RESUMED": (),
    "STEP_STARTED": ("step", "attempt", "pid", "pgid"),
    "STEP_SUCCEEDED": ("step", "attempt"),
    "STEP_FAILED": ("step", "attempt", "reason"),
    "STEP_RETRY_SCHEDULED": ("step", "attempt", "delay_s"),
    "WORKFLOW_SUCCEEDED": (),
    "WORKFLOW_FAILED": (),
}
TERMINAL = ("WORKFLOW_SUCCEEDED", "WORKFLOW_FAILED")


class LogDamaged(Exception):
    """The log is damaged other than by a torn final line."""


@dataclass(frozen=True)
class LogContents:
    events: list[dict[str, Any]]
    good_len: int  # bytes of the complete, valid lines
    torn: bool  # a torn final line follows them

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1]["type"] in TERMINAL


def _decode(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _validate(number: int, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind not in FIELDS:
        raise LogDamaged(f"line {number}: unknown event type {kind!r}")
    if event.get("seq") != number:
        raise LogDamaged(f"line {number}: seq {event.get('seq')!r}, expected {number}")
    missing = [f for f in ("ts", *FIELDS[kind]) if f not in event]
    if missing:
        raise LogDamaged(f"line {number}: {kind} lacks {missing[0]!r}")


def parse(raw: bytes) -> LogContents:
    lines = raw.split(b"\n")
    tail = lines.pop()  # after the last newline: empty when the file ends with one
    events: list[dict[str, Any]] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        event = _decode(line)
        if event is None:
            if number == len(lines) and not tail:
                return LogContents(events, offset, torn=True)  # a torn final line
            raise LogDamaged(f"line {number}: not a JSON object")
        _validate(number, event)
        events.append(event)
        offset += len(line) + 1
    return LogContents(events, offset, torn=bool(tail))


def read(path: str) -> LogContents | None:
    """The log's contents, or None when there is no log."""
    try:
        with open(path, "rb") as f:
            return parse(f.read())
    except FileNotFoundError:
        return None


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EventLog:
    """Appends events durably; the only writer of the log file."""

    def __init__(self, path: str, contents: LogContents | None) -> None:
        created = contents is None
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if created:
            _fsync_dir(os.path.dirname(path))
        self.events: list[dict[str, Any]] = list(contents.events) if contents else []
        if contents is not None and contents.torn:
            os.ftruncate(self._fd, contents.good_len)  # cut the torn tail, keep the rest
            os.fsync(self._fd)

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": len(self.events) + 1, "type": kind, "ts": time.time(), **fields}
        data = (json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # never leave half a line that we then build on
            raise OSError(f"short write to the event log ({written} of {len(data)} bytes)")
        os.fsync(self._fd)
        self.events.append(event)
        return event

    def close(self) -> None:
        os.close(self._fd)
