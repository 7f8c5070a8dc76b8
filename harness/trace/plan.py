"""Crash points of a recorded run, a seeded choice of them, and the strace that strikes one.

Issue 13 item 2: a crash is struck at an exact call, not at a polled moment. The crash
points come from a clean run's `durability_calls`: every call of the engine's main
process, on any of its threads, that can change what survives a crash (each write to
the log, each fsync or fdatasync or sync_file_range, each rename or link into
``outputs/``), in trace order.

strace's ``-e inject=SYSCALL:signal=KILL:when=N`` counts per syscall and per tracee,
that is per *thread* (strace(1): "Accounting of syscalls that are subject to injection
is done per syscall and per tracee"; a thread's SIGKILL still ends its whole process),
and ``-P PATH`` restricts tracing and counting to calls that touch PATH. So call k is
named by (syscall, path, n): n is k's position among its thread's calls of that syscall
that touch that path. Every other thread, of the engine or of another process, counts
on its own: when one of them also makes an n-th such call, the same strace would kill
there too, and the point is marked ``ambiguous`` (with the reason) and `inject_argv`
refuses it rather than strike wrongly. So is every point of a (syscall, path) that the
engine makes on more than one thread: which thread makes which of them (a pool's
workers, goroutines moving between threads) may change from run to run, and n with it.

The main process is the one that first writes the log: the engine itself, whatever
wrapper (a shell, an interpreter launcher) started it; pids differ between runs, roles
do not. Calls of other processes (the steps' commands) are not crash points: killing a
step is not a crash of the engine.

`choose` is pure: the same points, seed and limit give the same `CrashPlan`, which
`plan_json` prints and `plan_from_json` reads back, so a plan is data made before any
fault is struck, stored with the results and replayed.
"""

from __future__ import annotations

import json
import posixpath
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from harness.trace.durability import LOG_NAME, DurabilityCall, Kind, LogEvent, _LogBytes, log_events
from harness.trace.strace import TraceError

ROLE_ENGINE = "engine"  # the process that first writes the log
PLAN_VERSION = 1
_POINT_KINDS = (Kind.LOG_WRITE, Kind.SYNC, Kind.PUBLISH)


@dataclass(frozen=True, slots=True)
class CrashPoint:
    """Call `index` of the durability calls, as strace's inject counter reaches it."""

    index: int  # k: its position in durability_calls
    syscall: str
    path: str  # relative to STATE_DIR ('.': STATE_DIR itself)
    ordinal: int  # n: its place among the role's calls of syscall touching path (from 1)
    role: str
    description: str
    ambiguous: str = ""  # why another process would be killed too ('': it would not)


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """The points to strike, chosen from `total` crash points with `seed` and `limit`."""

    seed: int
    limit: int
    total: int
    points: tuple[CrashPoint, ...] = field(default_factory=tuple)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _event_name(event: LogEvent) -> str:
    if event.event is None:
        return "a torn line"
    kind, step = event.event.get("type", "?"), event.event.get("step")
    return f"{kind} {step}" if step is not None else str(kind)


def _main_proc(calls: Sequence[DurabilityCall]) -> int | None:
    """The process (not the thread) that first writes the log."""
    writer = next((d for d in calls if d.kind is Kind.LOG_WRITE), None)
    return writer.call.proc if writer is not None else None


def _target(dc: DurabilityCall) -> str:
    """The path strace's -P must name to count this call: the new name of a publish."""
    return dc.rel[-1]


def _describe(dc: DurabilityCall, before: list[LogEvent], lines: list[LogEvent]) -> str:
    name = dc.call.syscall
    if dc.kind is Kind.LOG_WRITE:
        carried = [_event_name(lines[i]) for i in dc.events]
        what = ", ".join(carried) if carried else "nothing known"
        continued = bool(before) and not before[-1].raw.endswith(b"\n")
        part = "the first part of " if dc.partial else "the rest of " if continued else ""
        return f"the {name} of {part}{what}"
    if dc.kind is Kind.PUBLISH:
        return f"the {name} of {dc.file}"
    target = "STATE_DIR" if dc.file == "." else dc.file
    after = f"after {_event_name(before[-1])}" if before else "before any event"
    return f"the {name} of {target} {after}"


def crash_points(calls: Sequence[DurabilityCall]) -> list[CrashPoint]:
    """Every durability-relevant call of the engine's main process, in trace order."""
    main = _main_proc(calls)
    if main is None:
        return []
    lines = log_events(calls)
    seen: dict[tuple[int, str, str], int] = {}  # (thread, syscall, path) -> calls so far
    totals: dict[tuple[int, str, str], int] = {}
    threads: dict[tuple[str, str], set[int]] = {}  # (syscall, path) -> the engine's threads
    for dc in calls:
        for path in set(dc.rel):
            key = (dc.call.pid, dc.call.syscall, path)
            totals[key] = totals.get(key, 0) + 1
            if dc.call.proc == main:
                threads.setdefault((dc.call.syscall, path), set()).add(dc.call.pid)
    points, log = [], _LogBytes()  # the log as the calls before k left it
    used: set[str] = set()
    for k, dc in enumerate(calls):
        for path in set(dc.rel):
            key = (dc.call.pid, dc.call.syscall, path)
            seen[key] = seen.get(key, 0) + 1
        if dc.call.proc != main or dc.kind not in _POINT_KINDS:
            _apply(log, k, dc)
            continue
        path = _target(dc)
        n = seen[(dc.call.pid, dc.call.syscall, path)]
        text = _describe(dc, log.events(), lines)
        if text in used:  # the same call again with nothing between: say which one
            text = text.replace(f"the {dc.call.syscall}", f"the {_ordinal(n)} {dc.call.syscall}", 1)
        used.add(text)
        why = _ambiguity(totals, threads[(dc.call.syscall, path)], dc, path, n)
        points.append(CrashPoint(k, dc.call.syscall, path, n, ROLE_ENGINE, text, why))
        _apply(log, k, dc)
    return points


def _ambiguity(totals: dict[tuple[int, str, str], int], mine: set[int], dc: DurabilityCall,
               path: str, n: int) -> str:
    """Why a strike at dc's thread's n-th syscall touching path might land elsewhere
    ('': it would not). strace counts per thread: another thread with an n-th such call
    would be struck too; and when the engine spreads such calls over threads (mine:
    its threads that make them), which thread makes the n-th is the scheduler's choice,
    not fixed from run to run."""
    name, tid = dc.call.syscall, dc.call.pid
    if len(mine) > 1:
        return (f"the engine makes its {name} calls touching {path} on {len(mine)} threads;"
                " strace counts each thread's calls apart, and which thread makes which"
                " call may differ from run to run")
    others = [t for (t, s, p), count in totals.items()
              if t != tid and s == name and p == path and count >= n]
    if not others:
        return ""
    return f"{len(others)} other process(es) also make a {_ordinal(n)} {name} touching {path}"


def _apply(log: _LogBytes, k: int, dc: DurabilityCall) -> None:
    if dc.file == LOG_NAME:
        log.apply(k, dc.call, dc.kind)


def log_before(calls: Sequence[DurabilityCall], point: CrashPoint) -> bytes:
    """The log's bytes just before the point's call takes effect (what a kill there leaves)."""
    return b"".join(e.raw for e in log_events(calls[:point.index]))


def choose(points: Sequence[CrashPoint], seed: int, limit: int) -> CrashPlan:
    """All points when at most limit; else a seeded sample of limit, with the first and
    the last always in, in trace order."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 2:
        raise TraceError(f"choose: limit must be an integer of at least 2, not {limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TraceError(f"choose: seed must be an integer, not {seed!r}")
    ordered = sorted(points, key=lambda p: p.index)
    if len(ordered) <= limit:
        return CrashPlan(seed, limit, len(ordered), tuple(ordered))
    middle = random.Random(seed).sample(ordered[1:-1], limit - 2)
    picked = sorted([ordered[0], *middle, ordered[-1]], key=lambda p: p.index)
    return CrashPlan(seed, limit, len(ordered), tuple(picked))


def plan_json(plan: CrashPlan) -> str:
    """The plan as JSON text (stable key order), to print, store and replay."""
    doc = {"version": PLAN_VERSION, "seed": plan.seed, "limit": plan.limit,
           "total": plan.total, "points": [asdict(p) for p in plan.points]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def plan_from_json(text: str) -> CrashPlan:
    """A plan read back from `plan_json`'s text; TraceError names what is wrong."""
    try:
        doc = json.loads(text)
        if doc.get("version") != PLAN_VERSION:
            raise ValueError(f"version {doc.get('version')!r}, expected {PLAN_VERSION}")
        points = tuple(_point(p) for p in doc["points"])
        head = [doc["seed"], doc["limit"], doc["total"]]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in head):
            raise ValueError("seed, limit and total must be integers")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TraceError(f"not a crash plan: {exc}") from None
    return CrashPlan(head[0], head[1], head[2], points)


def _point(doc: dict[str, object]) -> CrashPoint:
    types = {"index": int, "syscall": str, "path": str, "ordinal": int, "role": str,
             "description": str, "ambiguous": str}
    if set(doc) != set(types):
        raise ValueError(f"a point has keys {sorted(doc)}, expected {sorted(types)}")
    for key, kind in types.items():
        if not isinstance(doc[key], kind) or isinstance(doc[key], bool):
            raise ValueError(f"point {key} is {doc[key]!r}, not {kind.__name__}")
    return CrashPoint(**doc)  # type: ignore[arg-type]


def inject_prefix(point: CrashPoint, state_dir: str, *, follow: bool = True,
                  trace_file: str | None = None, detach: bool = False) -> list[str]:
    """The strace argv, ending in "--", that kills its engine at point's call, before it acts.

    state_dir must be absolute, named as the engine names it (strace compares paths as
    the kernel reports them). follow (-f) traces the engine's whole tree: needed when
    the point's thread is not the one strace starts (a wrapper's child, or a thread the
    engine made), and then an ambiguous point is refused, since it would kill elsewhere
    too. Without it only the started process's first thread is traced and counted.
    detach (-D) makes the process the caller starts the engine itself, so the caller
    sees the engine's own exit."""
    if not posixpath.isabs(state_dir):
        raise TraceError(f"inject_argv: STATE_DIR must be absolute, not {state_dir!r}")
    if point.ambiguous and follow:
        raise TraceError(f"inject_argv: cannot strike {point.description} alone: "
                         f"{point.ambiguous}")
    target = posixpath.normpath(posixpath.join(state_dir, point.path))
    name = point.syscall
    out = ["-o", trace_file] if trace_file is not None else []
    flags = [*(["-D"] if detach else []), *(["-f"] if follow else [])]
    return ["strace", *flags, "-qq", *out, "-P", target, "-e", f"trace={name}",
            "-e", f"inject={name}:signal=KILL:when={point.ordinal}", "--"]


def inject_argv(argv: Sequence[str], point: CrashPoint, state_dir: str,
                trace_file: str | None = None) -> list[str]:
    """The command that runs argv and kills its engine at point's call, before it acts,
    tracing the whole tree (`inject_prefix` with follow)."""
    if not argv:
        raise TraceError("inject_argv: the command to run is empty")
    return [*inject_prefix(point, state_dir, trace_file=trace_file), *argv]


__all__ = ["CrashPlan", "CrashPoint", "choose", "crash_points", "inject_argv", "inject_prefix",
           "log_before", "plan_from_json", "plan_json"]
