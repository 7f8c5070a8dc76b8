"""The append-only event log STATE_DIR/events.jsonl: durable appends, reading, damage.

Properties kept on purpose:
- An event is one `os.write` of its whole line to an O_APPEND descriptor, then `fsync`,
  before the caller acts on it; the directory is fsynced when the file is created. A
  crash can therefore tear only the line being written.
- Group commit: inside `with log.group():` the events appended are written together,
  whole lines in one `os.write`, and fsynced once when the group ends; nothing may act
  on them before that (`after_durable` defers an act until then). A crash before the
  fsync can leave any prefix of those lines, none of which was acted on.
- The file is never opened in a truncating mode and never rewritten. The one change
  besides appending is `run` cutting a torn final line (ftruncate to the end of the
  last complete line, then fsync); `status` only reads.
- The final line is torn when it lacks its newline or is not a JSON object. Anything
  else that is wrong (an earlier line that is not a JSON object, a seq that is not
  1, 2, 3 ..., an unknown type, a missing or mistyped field, a first event that is not
  WORKFLOW_STARTED) is damage: `LogDamaged`, and the caller exits 3 changing nothing.
- Reading is fast on large logs (bench/bench_status.py) without a second set of rules:
  `_parse_fast` decodes all lines with the C scanner and checks the contract's fields
  column by column, and only says "valid" or "not sure". When not sure, `_parse_lines`
  (the rules line by line, with `_decode` and `_validate`) decides, torn line included.
  `status_columns` goes further for `status`: one regular expression that matches only
  lines in the reference's own form, and no event objects at all; else None, and
  `status` reads through `parse`. tests/unit/test_refengine_status.py holds both to the
  rules.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import eq, itemgetter
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
REASONS = ("exit", "timeout", "signal", "lost")


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
    """The line as a JSON object, or None when it is not one."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v) or _is_int(v)


def _positive(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


FIELD_OK: dict[str, Callable[[Any], bool]] = {
    "ts": _is_number, "workflow": _is_str, "digest": _is_str, "step": _is_str,
    "attempt": _positive, "pid": _positive, "pgid": _positive,
    "reason": lambda v: isinstance(v, str) and v in REASONS, "delay_s": lambda v: _is_number(v) and v >= 0,
}


def _field_problem(kind: str, event: dict[str, Any]) -> str | None:
    """What is mistyped among the fields the contract gives `kind`, or None.
    Extra fields are allowed and never looked at."""
    for name in ("ts", *FIELDS[kind]):
        if not FIELD_OK[name](event[name]):
            return f"{name} has the wrong type or value {json.dumps(event[name])}"
    return None


def _validate(number: int, event: dict[str, Any]) -> None:
    """Raise LogDamaged unless `event` is a well-formed event at line `number`."""
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:  # a list or object is no type either
        raise LogDamaged(f"line {number}: unknown event type {kind!r}")
    seq = event.get("seq")
    if not _is_int(seq) or seq != number:
        raise LogDamaged(f"line {number}: seq {json.dumps(seq)}, expected {number}")
    missing = [f for f in ("ts", *FIELDS[kind]) if f not in event]
    if missing:
        raise LogDamaged(f"line {number}: {kind} lacks {missing[0]!r}")
    problem = _field_problem(kind, event)
    if problem:
        raise LogDamaged(f"line {number}: {kind} {problem}")
    if (kind == "WORKFLOW_STARTED") != (number == 1):
        raise LogDamaged(f"line {number}: WORKFLOW_STARTED must be the first event, and only it")


def _parse_lines(raw: bytes) -> LogContents:
    """The rules, line by line: the final word on a log `_parse_fast` is not sure of."""
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


_SCAN = json.JSONDecoder().scan_once  # json.loads's own scanner, without its whitespace skip
_REASONS = frozenset(REASONS)


def _types(values: list[Any]) -> set[type]:
    return set(map(type, values))


def _strs(values: list[Any]) -> bool:
    return _types(values) == {str}


def _positives(values: list[Any]) -> bool:
    return _types(values) == {int} and min(values) >= 1


def _numbers(values: list[Any]) -> bool:
    try:
        return _types(values) <= {int, float} and all(map(math.isfinite, values))
    except OverflowError:  # an int beyond a double: valid, but left to _parse_lines
        return False


def _reasons(values: list[Any]) -> bool:
    try:
        return set(values) <= _REASONS
    except TypeError:  # an unhashable value: not a reason
        return False


def _delays(values: list[Any]) -> bool:
    return _numbers(values) and min(values) >= 0


COLUMN_OK: dict[str, Callable[[list[Any]], bool]] = {
    "ts": _numbers, "workflow": _strs, "digest": _strs, "step": _strs, "attempt": _positives,
    "pid": _positives, "pgid": _positives, "reason": _reasons, "delay_s": _delays,
}


def _valid_events(events: list[Any]) -> bool:
    """True only when every value is an event `_validate` accepts at its line (the same
    rules as FIELD_OK, checked a column at a time); False when not sure."""
    get, n = dict.get, len(events)
    if _types(events) != {dict}:
        return False
    seqs = list(map(get, events, repeat("seq")))
    if seqs != list(range(1, n + 1)) or _types(seqs) != {int}:
        return False
    kinds = list(map(get, events, repeat("type")))
    try:
        present = set(kinds)
    except TypeError:
        return False
    if not present <= FIELDS.keys() or kinds[0] != "WORKFLOW_STARTED" \
            or kinds.count("WORKFLOW_STARTED") != 1:
        return False
    if not _numbers(list(map(get, events, repeat("ts")))):
        return False
    for kind in present:
        group = list(compress(events, map(eq, kinds, repeat(kind))))
        for name in FIELDS[kind]:
            if not COLUMN_OK[name](list(map(get, group, repeat(name)))):
                return False
    return True


def _parse_fast(raw: bytes) -> LogContents | None:
    """The contents of a log whose complete lines are all valid events, else None."""
    end = raw.rfind(b"\n") + 1
    try:
        text = str(memoryview(raw)[:end], "utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    lines.pop()  # the empty string after the last newline
    if not lines:
        return None
    try:  # a StopIteration (no value at all on a line) ends the map early
        found = list(map(_SCAN, lines, repeat(0)))
    except (ValueError, RecursionError):
        return None
    if len(found) != len(lines) or list(map(itemgetter(1), found)) != list(map(len, lines)):
        return None  # a line that is not one JSON value from its first to its last character
    events = list(map(itemgetter(0), found))
    if not _valid_events(events):
        return None
    return LogContents(events, end, torn=end < len(raw))


def parse(raw: bytes) -> LogContents:
    enabled = gc.isenabled()
    gc.disable()  # a million new dicts would set off the cycle collector over and over
    try:
        fast = _parse_fast(raw)
        return fast if fast is not None else _parse_lines(raw)
    finally:
        if enabled:
            gc.enable()


# One complete line as the reference writes it (json.dumps, compact, keys in its order),
# each piece matching only JSON that `_validate` accepts: strings without escapes,
# numbers too short to overflow a double, positive integers, the four reasons. Any other
# line (still maybe valid) matches the last group instead, and `status_columns` gives up.
_CHARS = r'[^"\\\x00-\x1f]*'
_STR = f'"{_CHARS}"'
_POS = r"[1-9][0-9]*"
_NONNEG = r"(?:0|[1-9][0-9]{0,16})(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,2})?"
_NUM = "-?" + _NONNEG
_STEP = f'","ts":{_NUM},"step":{_STR},"attempt":{_POS}'
_LINE = re.compile(
    f'{{"seq":([1-9][0-9]{{0,17}}),"type":"(?=([A-Z_]+)")'  # 1 the seq, 2 the type,
    f'(?=STEP_[A-Z_]+","ts":{_NUM},"step":"({_CHARS})"|)'  # 3 the step of a STEP_ event
    f'(?:WORKFLOW_STARTED","ts":{_NUM},"workflow":{_STR},"digest":{_STR}'
    f'|WORKFLOW_(?:RESUMED|SUCCEEDED|FAILED)","ts":{_NUM}'
    f'|STEP_STARTED{_STEP},"pid":{_POS},"pgid":{_POS}'
    f'|STEP_SUCCEEDED{_STEP}'
    f'|STEP_FAILED{_STEP},"reason":"(exit|timeout|signal|lost)"'  # 4 the reason
    f'(?:,"(?:exit_code|signal)":-?(?:0|[1-9][0-9]*))?'
    f'|STEP_RETRY_SCHEDULED{_STEP},"delay_s":{_NONNEG}'
    ')}\n|([^\n]*\n)')  # 5 a line of any other form


def status_columns(raw: bytes) -> tuple[list[str], list[str], list[str], int] | None:
    """For `status` of a large log: (types, step ids, reasons, last seq), one entry per
    event ("" where an event has no such field), when every complete line is an event
    just as the reference writes it; None when not sure (then `parse` decides)."""
    end = raw.rfind(b"\n") + 1
    try:
        text = str(memoryview(raw)[:end], "utf-8")
    except UnicodeDecodeError:
        return None
    rows = _LINE.findall(text)  # each line matches once, from its start to its newline
    if not rows or any(map(itemgetter(4), rows)):
        return None  # no complete line, or some line not in the reference's own form
    if not all(map(eq, map(int, map(itemgetter(0), rows)), count(1))):
        return None  # seq is not 1, 2, 3 ...
    kinds = list(map(itemgetter(1), rows))
    if kinds[0] != "WORKFLOW_STARTED" or kinds.count("WORKFLOW_STARTED") != 1:
        return None
    return kinds, list(map(itemgetter(2), rows)), list(map(itemgetter(3), rows)), len(rows)


def read(path: str) -> LogContents | None:
    """The log's contents, or None when there is no log. Opens read-only."""
    try:
        with open(path, "rb") as f:
            return parse(f.read())
    except FileNotFoundError:
        return None


def fsync_dir(path: str) -> None:
    """Make a directory's entries (a new file, a new link) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps's, built once


class EventLog:
    """Appends events durably; the only writer of the log file."""

    def __init__(self, path: str, contents: LogContents | None) -> None:
        created = not os.path.exists(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if created:
            fsync_dir(os.path.dirname(path))
        self.events: list[dict[str, Any]] = list(contents.events) if contents else []
        self._pending: list[bytes] | None = None  # lines of an open group, not yet written
        self._after: list[Callable[[], None]] = []  # acts waiting for the group's fsync
        if contents is not None and contents.torn:
            os.ftruncate(self._fd, contents.good_len)  # cut the torn tail, keep the rest
            os.fsync(self._fd)

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write one event whole and fsync it; only then may the caller act on it. Inside
        `group()` the line is held and made durable with the group's others when it ends."""
        event = {"seq": len(self.events) + 1, "type": kind, "ts": time.time(), **fields}
        data = (_ENCODE(event) + "\n").encode("utf-8")
        if self._pending is not None:
            self._pending.append(data)
        else:
            self._write_synced(data)
        self.events.append(event)
        return event

    def _write_synced(self, data: bytes) -> None:
        written = os.write(self._fd, data)
        if written != len(data):  # a half line must never be built on: stop here
            raise OSError(f"short write to the event log ({written} of {len(data)} bytes)")
        os.fsync(self._fd)

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: the events appended inside share one write and one fsync, made
        when the block ends normally; then the acts `after_durable` deferred run, in order.
        Nested groups join the outer one. If the block raises, nothing of it is written."""
        if self._pending is not None:
            yield
            return
        self._pending, self._after = [], []
        try:
            yield
            data = b"".join(self._pending)
        finally:
            self._pending = None
        if data:
            self._write_synced(data)
        after, self._after = self._after, []
        for act in after:
            act()

    def after_durable(self, act: Callable[[], None]) -> None:
        """Run `act` once every event appended so far is durable: now, outside a group."""
        if self._pending is None:
            act()
        else:
            self._after.append(act)

    def close(self) -> None:
        os.close(self._fd)
