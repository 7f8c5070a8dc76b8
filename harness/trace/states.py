"""Crash states built offline from a recorded trace (ALICE-style), and their materialising.

From the `DurabilityCall`s of one clean run, three generators build the STATE_DIRs a
crash could leave, each a frozen `CrashState` with a one-line explanation that names the
call and the log event or output it carries:

- `prefix_states`: a process crash after the first k calls (the page cache survives);
- `torn_states`: call k, a write, applied in part (1 byte; a 512- or 4096-byte boundary
  of the file when the write spans one; mid-line), the missing tail absent or zero-filled;
- `power_loss_states`: after k calls, what `FileSystem.durable`'s strict model keeps
  (each file cut back to its last fsync/fdatasync; an entry no fsync of its directory
  made durable undone).

k counts calls wholly applied, so "prefix k" is the tree a kill at call k leaves (the
kill lands before the call takes effect). Each generator takes every k whose call changes
what its model shows, or, given ``limit``, a sample drawn from ``seed`` that always keeps
the first and the last. All of it is pure; `materialise` alone writes, where it is told.
"""

from __future__ import annotations

import enum
import posixpath
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.trace.durability import LOG_NAME, OUTPUTS, DurabilityCall, Kind, LogEvent, log_events
from harness.trace.fsmodel import FileSystem
from harness.trace.strace import O_CREAT, O_TRUNC

BOUNDARIES = (512, 4096)
_CHANGES = {Kind.LOG_WRITE, Kind.WRITE, Kind.PUBLISH, Kind.MOVE, Kind.OPEN, Kind.MKDIR,
            Kind.TRUNCATE, Kind.UNLINK}


class StateError(HarnessError):
    """A crash state cannot be materialised where asked (the reason is named)."""

    exit_code = 3


class Model(enum.StrEnum):
    PREFIX = "prefix"
    TORN = "torn"
    POWER_LOSS = "power_loss"


@dataclass(frozen=True, slots=True)
class CrashState:
    """One STATE_DIR a crash could leave: its files' exact bytes and its directories."""

    name: str  # "prefix 12", "torn 7 at 1 byte, zero-filled", "power loss after 9"
    model: Model
    k: int  # calls wholly applied before the crash
    call: int | None  # the index of the call the explanation is about
    explanation: str
    files: tuple[tuple[str, bytes], ...]  # (path relative to STATE_DIR, bytes), sorted
    dirs: tuple[str, ...] = ()

    @property
    def contents(self) -> dict[str, bytes]:
        return dict(self.files)


def _pick(ks: list[int], limit: int | None, seed: int) -> list[int]:
    if limit is None or len(ks) <= max(limit, 2):
        return ks
    middle = random.Random(seed).sample(ks[1:-1], max(limit, 2) - 2)
    return sorted([ks[0], *middle, ks[-1]])


def _changes(dc: DurabilityCall) -> bool:
    """Whether the call can change the live tree (an open only with O_CREAT or O_TRUNC)."""
    if dc.call.failed or dc.call.ret is None or dc.kind not in _CHANGES:
        return False
    return dc.kind is not Kind.OPEN or bool((dc.call.flags or 0) & (O_CREAT | O_TRUNC))


def _event(e: LogEvent) -> str:
    doc = e.event or {}
    step = f" of step {doc['step']}" if "step" in doc else ""
    kind = doc.get("type", "torn line")
    return f"the {kind}{step} (seq {doc.get('seq', '?')})"


def _carries(dc: DurabilityCall, events: list[LogEvent]) -> str:
    """What the call writes or makes, in words."""
    if dc.kind is Kind.LOG_WRITE and dc.events:
        return " and ".join(_event(events[i]) for i in dc.events if i < len(events))
    if dc.kind is Kind.PUBLISH:
        return f"the output of step {dc.step} ({dc.file})"
    return {Kind.WRITE: f"bytes of {dc.file}", Kind.SYNC: f"the fsync of {dc.file}",
            Kind.MOVE: f"the new name {dc.file}", Kind.OPEN: f"the open of {dc.file}",
            Kind.MKDIR: f"the directory {dc.file}", Kind.UNLINK: f"the removal of {dc.file}",
            Kind.TRUNCATE: f"the truncation of {dc.file}"}.get(dc.kind, dc.file)


def _label(i: int, dc: DurabilityCall) -> str:
    return f"call {i} ({dc.call.syscall} {' -> '.join(dc.rel)}, trace line {dc.call.line})"


def _state(name: str, model: Model, k: int, call: int | None, why: str,
           tree: tuple[dict[str, bytes], tuple[str, ...]]) -> CrashState:
    files, dirs = tree
    return CrashState(name, model, k, call, why, tuple(sorted(files.items())), dirs)


def prefix_states(calls: Sequence[DurabilityCall], limit: int | None = None,
                  seed: int = 0) -> list[CrashState]:
    """The tree after the first k calls: k = 0 and every k whose last call changes it."""
    events = log_events(calls)
    ks = [0, *(k + 1 for k, dc in enumerate(calls) if _changes(dc))]
    wanted = set(_pick(ks, limit, seed))
    fs, out = FileSystem(), []
    for k in range(len(calls) + 1):
        if k in wanted:
            if k == 0:
                why = "a crash before any call: STATE_DIR empty"
                out.append(_state("prefix 0", Model.PREFIX, 0, None, why, fs.live()))
            else:
                dc = calls[k - 1]
                why = (f"a crash after {_label(k - 1, dc)}, which wrote "
                       f"{_carries(dc, events)}; nothing later happened")
                out.append(_state(f"prefix {k}", Model.PREFIX, k, k - 1, why, fs.live()))
        if k < len(calls):
            fs.apply(calls[k])
    return out


def _cuts(at: int, data: bytes, rng: random.Random) -> list[tuple[str, int]]:
    """(label, bytes kept) for each way to tear a write of data at file offset at."""
    n = len(data)
    cuts = [("at 1 byte", 1)]
    for size in BOUNDARIES:
        first = (at // size + 1) * size - at  # bytes up to the first boundary it crosses
        if 0 < first < n:
            cuts.append((f"at {size}-byte boundary", first))
    start = data.rfind(b"\n", 0, n - 1) + 1  # the last line the write holds
    if n - start >= 2:
        cuts.append(("mid-line", rng.randrange(start + 1, n)))
    kept: dict[int, str] = {}
    for label, cut in cuts:  # one state per distinct cut, under its first label
        if 0 < cut < n:
            kept.setdefault(cut, label)
    return [(label, cut) for cut, label in kept.items()]


def torn_states(calls: Sequence[DurabilityCall], seed: int = 0,
                limit: int | None = None) -> list[CrashState]:
    """Each write of two bytes or more, applied in part: every cut of `_cuts`, with the
    missing tail absent and zero-filled."""
    events = log_events(calls)
    rng = random.Random(seed)
    ks = [k for k, dc in enumerate(calls) if dc.kind in (Kind.LOG_WRITE, Kind.WRITE)
          and _changes(dc) and dc.call.data is not None and len(dc.call.data) >= 2]
    wanted = set(_pick(ks, limit, seed))
    fs, out = FileSystem(), []
    for k, dc in enumerate(calls):
        where = fs.target(dc) if k in wanted else None
        data = dc.call.data or b""
        for label, cut in _cuts(where[1], data, rng) if where is not None else []:
            for zeros in (0, len(data) - cut):
                torn = fs.copy()
                torn.write(dc, data[:cut], zeros)
                tail = "zero-filled" if zeros else "absent"
                name = f"torn {k} {label}" + (", zero-filled" if zeros else "")
                why = (f"{_label(k, dc)} applied in part, {cut} of {len(data)} bytes, the "
                       f"rest {tail}: {_carries(dc, events)} was torn")
                out.append(_state(name, Model.TORN, k, k, why, torn.live()))
        fs.apply(dc)
    return out


def _lost(fs: FileSystem, events: list[LogEvent]) -> str:
    """What a power loss now drops, in words: the first event and output lost, and counts."""
    live, _ = fs.live()
    kept, _ = fs.durable()
    log, durable_log = live.get(LOG_NAME, b""), kept.get(LOG_NAME)
    gone = [e for e in events if log[e.start:e.start + len(e.raw)] == e.raw
            and (durable_log is None or durable_log[e.start:e.start + len(e.raw)] != e.raw)]
    parts = []
    if gone:
        where = "the log's entry was never made durable by an fsync of STATE_DIR" \
            if durable_log is None else "never fsynced"
        more = f" ({len(gone) - 1} more event(s) lost)" if len(gone) > 1 else ""
        parts.append(f"{_event(gone[0])} was written but {where}{more}")
    undone = [p for p in live if posixpath.dirname(p) == OUTPUTS and p not in kept]
    if undone:
        parts.append(f"{undone[0]} was published but no fsync of {OUTPUTS} made it durable")
    other = [p for p in live if p != LOG_NAME and p not in undone and kept.get(p) != live[p]]
    if other:
        parts.append(f"{len(other)} other file(s) cut back or gone, first {other[0]}")
    return "; ".join(parts) or "nothing is lost (all of it was fsynced)"


def power_loss_states(calls: Sequence[DurabilityCall], limit: int | None = None,
                      seed: int = 0) -> list[CrashState]:
    """The strict power-loss tree after the first k calls, for k = 0 and every k whose
    last call changes the tree or makes some of it durable."""
    events = log_events(calls)
    ks = [0, *(k + 1 for k, dc in enumerate(calls)
               if _changes(dc) or (dc.kind is Kind.SYNC and not dc.call.failed))]
    wanted = set(_pick(ks, limit, seed))
    fs, out = FileSystem(), []
    for k in range(len(calls) + 1):
        if k in wanted:
            last = f" {_label(k - 1, calls[k - 1])}" if k else " no call"
            why = f"power loss after{last}: {_lost(fs, events)}"
            out.append(_state(f"power loss after {k}", Model.POWER_LOSS, k,
                              k - 1 if k else None, why, fs.durable()))
        if k < len(calls):
            fs.apply(calls[k])
    return out


def materialise(state: CrashState, state_dir: Path) -> Path:
    """Write state into state_dir, which must be absent or an empty directory: its
    directories, then its files with their exact bytes. Returns state_dir."""
    if state_dir.exists() and (not state_dir.is_dir() or any(state_dir.iterdir())):
        raise StateError(f"materialise: {state_dir} is not an absent or empty directory")
    for rel in [*state.dirs, *(p for p, _ in state.files)]:
        norm = posixpath.normpath(rel)
        if posixpath.isabs(rel) or norm != rel or norm.split("/")[0] in ("..", "."):
            raise StateError(f"materialise: {rel!r} is not a plain path inside STATE_DIR")
    state_dir.mkdir(parents=True, exist_ok=True)
    for rel in state.dirs:
        (state_dir / rel).mkdir(parents=True, exist_ok=True)
    for rel, data in state.files:
        path = state_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:
            out.write(data)
    return state_dir
