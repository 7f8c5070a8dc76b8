"""The calls of a trace that touch one STATE_DIR, each with what it makes or writes.

`durability_calls` keeps, in trace order, every call with a path at or under STATE_DIR
(the log, ``outputs/``, the attempts' files, the directory itself for its fsyncs) and
says what each one does to durable state:

- a write to ``events.jsonl`` carries the log events whose bytes it holds. The log's
  bytes are assembled from the writes (appended, or at a pwrite's offset; cut by a
  truncate or an O_TRUNC open), then split into lines, so an event written in two
  writes maps to both, and the first of them is marked ``partial``;
- a rename or link into ``outputs/`` publishes the step named by the new name;
- an fsync, fdatasync or sync_file_range names the file (or directory) it flushes.

Paths are compared as strings, with no symlink resolved: pass STATE_DIR as the traced
processes named it (for the harness's cells, an absolute path with no link in it).
"""

from __future__ import annotations

import enum
import json
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.trace.strace import O_TRUNC, Call

LOG_NAME = "events.jsonl"
OUTPUTS = "outputs"
_WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
_SYNCS = {"fsync", "fdatasync", "sync_file_range"}
_MOVES = {"rename", "renameat", "renameat2", "link", "linkat"}


class Kind(enum.StrEnum):
    LOG_WRITE = "log_write"  # a write to events.jsonl
    WRITE = "write"  # a write to any other file under STATE_DIR
    SYNC = "sync"  # fsync, fdatasync, sync_file_range: of a file or a directory
    PUBLISH = "publish"  # a rename or link whose new name is outputs/ID
    MOVE = "move"  # any other rename or link
    OPEN = "open"
    MKDIR = "mkdir"
    TRUNCATE = "truncate"
    UNLINK = "unlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One line of the log as the writes assembled it (``event`` None: not a JSON object,
    as a torn final line)."""

    index: int  # 0-based line number in the assembled log
    start: int  # byte offset of the line in the log
    raw: bytes  # the line, with its newline when it has one
    event: dict[str, object] | None

    @property
    def seq(self) -> object:
        return None if self.event is None else self.event.get("seq")


@dataclass(frozen=True, slots=True)
class DurabilityCall:
    """One call that touches STATE_DIR, and what it writes there."""

    call: Call
    kind: Kind
    rel: tuple[str, ...]  # its paths relative to STATE_DIR ('.' for STATE_DIR itself)
    events: tuple[int, ...] = ()  # LogEvent.index of each event a log write carries
    partial: bool = False  # the last event it carries ends in a later write
    step: str | None = None  # the step a PUBLISH publishes

    @property
    def file(self) -> str:
        """The file it acts on (the new name, for a rename or link)."""
        return self.rel[-1] if self.rel else ""


def relative(path: str, state_dir: str) -> str | None:
    """path relative to state_dir ('.' for itself), or None when it lies outside."""
    root = posixpath.normpath(state_dir)
    if path == root:
        return "."
    return path[len(root) + 1:] if path.startswith(root + "/") else None


def _kind(call: Call, rel: tuple[str | None, ...]) -> Kind:
    name = call.syscall
    if name in _WRITES:
        return Kind.LOG_WRITE if rel[0] == LOG_NAME else Kind.WRITE
    if name in _SYNCS:
        return Kind.SYNC
    if name in _MOVES:
        new = rel[-1]
        if new is not None and posixpath.dirname(new) == OUTPUTS:
            return Kind.PUBLISH
        return Kind.MOVE
    table = {"open": Kind.OPEN, "openat": Kind.OPEN, "openat2": Kind.OPEN, "creat": Kind.OPEN,
             "mkdir": Kind.MKDIR, "mkdirat": Kind.MKDIR, "truncate": Kind.TRUNCATE,
             "ftruncate": Kind.TRUNCATE, "unlink": Kind.UNLINK, "unlinkat": Kind.UNLINK}
    return table.get(name, Kind.OTHER)


class _LogBytes:
    """The log's bytes as the traced calls leave them, and the span each write covered."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.spans: dict[int, tuple[int, int]] = {}  # position in the result -> [start, end)

    def apply(self, pos: int, call: Call, kind: Kind) -> None:
        if call.failed or call.ret is None:  # no effect, or none known: a kill at entry
            return
        if kind is Kind.LOG_WRITE and call.data:
            at = call.offset if call.syscall != "write" and call.offset is not None \
                else len(self.data)
            end = at + len(call.data)
            self.data[at:end] = call.data
            self.spans[pos] = (at, end)
        elif kind is Kind.TRUNCATE and call.length is not None:  # cut, or zero-filled
            self.data[call.length:] = b""
            self.data += bytes(call.length - len(self.data))
        elif kind is Kind.OPEN and call.flags is not None and call.flags & O_TRUNC:
            self.data.clear()

    def events(self) -> list[LogEvent]:
        out, start = [], 0
        for i, raw in enumerate(bytes(self.data).splitlines(keepends=True)):
            out.append(LogEvent(i, start, raw, _json_object(raw)))
            start += len(raw)
        return out


def _json_object(raw: bytes) -> dict[str, object] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def log_events(calls: Iterable[DurabilityCall]) -> list[LogEvent]:
    """The log's lines as the calls assembled them."""
    log = _LogBytes()
    for i, dc in enumerate(calls):
        if dc.file == LOG_NAME:
            log.apply(i, dc.call, dc.kind)
    return log.events()


def durability_calls(calls: Sequence[Call], state_dir: str) -> list[DurabilityCall]:
    """The calls that touch state_dir, in order, each mapped to what it writes."""
    kept: list[DurabilityCall] = []
    for call in calls:
        rels = tuple(relative(p, state_dir) for p in call.paths)
        if not any(r is not None for r in rels):
            continue
        kind = _kind(call, rels)
        step = posixpath.basename(rels[-1] or "") if kind is Kind.PUBLISH else None
        kept.append(DurabilityCall(call, kind, tuple(r or "" for r in rels), step=step))
    return _map_log_writes(kept)


def _map_log_writes(kept: list[DurabilityCall]) -> list[DurabilityCall]:
    log = _LogBytes()
    for i, dc in enumerate(kept):
        if dc.file == LOG_NAME:
            log.apply(i, dc.call, dc.kind)
    lines = log.events()
    out = []
    for i, dc in enumerate(kept):
        span = log.spans.get(i)
        if span is None:
            out.append(dc)
            continue
        start, end = span
        carried = [e for e in lines if e.start < end and e.start + len(e.raw) > start]
        partial = bool(carried) and carried[-1].start + len(carried[-1].raw) > end
        out.append(DurabilityCall(dc.call, dc.kind, dc.rel, tuple(e.index for e in carried),
                                  partial, dc.step))
    return out
