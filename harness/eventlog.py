"""Reading an engine's events.jsonl, as the contract defines it, from bytes alone.

Pure functions, no I/O. The contract's rules are applied literally:
- a line is complete when it ends in a newline;
- the final line is torn when it has no newline, or when it is not valid JSON;
- any other line that is not a JSON object is damage.
`schema_problems` says, for the complete events, what the contract's event table and
seq rule are missing; it never raises on any input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "WORKFLOW_STARTED": ("workflow", "digest"),
    "WORKFLOW_RESUMED": (),
    "STEP_STARTED": ("step", "attempt", "pid", "pgid"),
    "STEP_SUCCEEDED": ("step", "attempt"),
    "STEP_FAILED": ("step", "attempt", "reason"),
    "STEP_RETRY_SCHEDULED": ("step", "attempt", "delay_s"),
    "WORKFLOW_SUCCEEDED": (),
    "WORKFLOW_FAILED": (),
}
FAIL_REASONS = frozenset({"exit", "timeout", "signal", "lost"})
TERMINAL = frozenset({"WORKFLOW_SUCCEEDED", "WORKFLOW_FAILED"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class LogLine:
    number: int  # 1-based line number in the file
    offset: int  # byte offset of the line's first byte
    raw: bytes  # without the newline
    event: Mapping[str, Any] | None  # None: not a JSON object


@dataclass(frozen=True, slots=True)
class ParsedLog:
    lines: tuple[LogLine, ...]  # the complete, valid lines: the log's events
    damaged: tuple[LogLine, ...]  # non-final lines that are not JSON objects
    torn: bytes  # the torn final line, without any newline ("" when none)
    torn_offset: int  # where the torn line starts (== len(raw) when none)

    @property
    def events(self) -> list[Mapping[str, Any]]:
        return [ln.event for ln in self.lines if ln.event is not None]

    @property
    def is_damaged(self) -> bool:
        return bool(self.damaged)

    @property
    def finished(self) -> bool:
        evs = self.events
        return bool(evs) and evs[-1].get("type") in TERMINAL


def _as_object(raw: bytes) -> Mapping[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def loose(kind: str) -> str:
    """An event type ignoring case and underscores (STEP_STARTED, StepStarted, STEPSTARTED)."""
    return kind.replace("_", "").upper()


def running_attempts(log: bytes | None) -> set[tuple[str, int]]:
    """The attempts the log's complete events leave running: a STEP_STARTED with no
    STEP_SUCCEEDED or STEP_FAILED of the same step and attempt (types read loosely, so a
    misnamed type still says what happened; an attempt that is not an integer is none)."""
    started: set[tuple[str, object]] = set()
    ended: set[tuple[str, object]] = set()
    for e in parse_log(log or b"").events:
        kind = loose(str(e.get("type", "")))
        key = (str(e.get("step")), e.get("attempt"))
        if kind == "STEPSTARTED":
            started.add(key)
        elif kind in ("STEPSUCCEEDED", "STEPFAILED"):
            ended.add(key)
    return {(s, a) for s, a in started - ended if isinstance(a, int) and not isinstance(a, bool)}


def parse_log(raw: bytes) -> ParsedLog:
    parts = raw.split(b"\n")
    tail = parts.pop()  # bytes after the last newline: b"" when the file ends in one
    lines: list[LogLine] = []
    offset = 0
    for number, part in enumerate(parts, start=1):
        lines.append(LogLine(number, offset, part, _as_object(part)))
        offset += len(part) + 1
    torn, torn_offset = tail, offset
    if not tail and lines and lines[-1].event is None:
        last = lines.pop()  # a final line that is not valid JSON is torn, not damage
        torn, torn_offset = last.raw, last.offset
    if tail == b"" and not torn:
        torn_offset = len(raw)
    good = tuple(ln for ln in lines if ln.event is not None)
    bad = tuple(ln for ln in lines if ln.event is None)
    return ParsedLog(good, bad, torn, torn_offset)


def complete_prefix(raw: bytes) -> bytes:
    """The bytes up to and including the last newline."""
    return raw[: raw.rfind(b"\n") + 1]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(float(v))  # type: ignore[arg-type]


def event_problems(ev: Mapping[str, Any], step_ids: Sequence[str] | None = None) -> list[str]:
    """What one event lacks against the contract's table (extra fields are allowed)."""
    kind = ev.get("type")
    if kind not in EVENT_FIELDS:
        return [f"unknown type {kind!r}"]
    problems = []
    if not _is_int(ev.get("seq")):
        problems.append("seq is not an integer")
    if not _is_number(ev.get("ts")):
        problems.append("ts is not a number")
    problems += [f"{kind} lacks {f!r}" for f in EVENT_FIELDS[str(kind)] if f not in ev]
    if "step" in EVENT_FIELDS[str(kind)]:
        if not isinstance(ev.get("step"), str):
            problems.append("step is not a string")
        elif step_ids is not None and ev["step"] not in step_ids:
            problems.append(f"step {ev['step']!r} is not in the workflow")
        if "attempt" in ev and not (_is_int(ev["attempt"]) and ev["attempt"] >= 1):
            problems.append("attempt is not an integer >= 1")
    if kind == "STEP_FAILED" and ev.get("reason") not in FAIL_REASONS:
        problems.append(f"reason {ev.get('reason')!r} is not one of {sorted(FAIL_REASONS)}")
    if kind == "STEP_STARTED" and not (_is_int(ev.get("pid")) and _is_int(ev.get("pgid"))):
        problems.append("pid/pgid are not integers")
    if kind == "WORKFLOW_STARTED" and not _HEX64.fullmatch(str(ev.get("digest", ""))):
        problems.append("digest is not 64 lowercase hex digits")
    if kind == "STEP_RETRY_SCHEDULED" and not (
        _is_number(ev.get("delay_s")) and float(ev["delay_s"]) >= 0
    ):
        problems.append("delay_s is not a number >= 0")
    return problems


def seq_problems(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """seq must be 1, 2, 3 ... with no gap and no repeat."""
    problems = []
    for expected, ev in enumerate(events, start=1):
        if ev.get("seq") != expected:
            problems.append(f"event #{expected} has seq {ev.get('seq')!r}, expected {expected}")
    return problems
