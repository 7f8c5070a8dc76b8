"""Exact crash points: record a clean run under strace, then kill the engine at one call.

A polled kill ("after 5 events", "after 0.7 s") lands wherever the engine happens to be,
so the same seed can leave a different state from one run to the next. Here the crash
is struck by strace itself (``-e inject=SYSCALL:signal=KILL:when=N``): the engine dies
at its N-th call of that syscall touching one path, before the call takes effect.

`record` runs the scenario's workflow once, cleanly, under `strace_prefix`, in a
STATE_DIR and an audit of its own (``work/record``, ``audit/record.jsonl``), so nothing
it does counts in the checks of the cells' real runs. Its trace gives the crash points
(`harness.trace.plan.crash_points`): every write to the log, every fsync, every
publish into ``outputs/``, each named by (syscall, path, n). A recording is used only
when it is what happened: the engine exited 0, the trace parsed, and the log the traced
writes assemble is byte for byte the log on disk. Otherwise (no strace in the image, a
fake runner, an engine that writes through mmap ...) `Recording.unavailable` says why,
and the procedures fall back to their timed triggers, saying so in the cell's faults.

The trace file is written by strace as the sandbox user, into the runner's stream
folder, outside STATE_DIR, the audit and the inputs, through a pipe to a small writer
(`capped_output`, on the probe's interpreter) that keeps its first TRACE_CAP bytes and
drains the rest: every write is traced with its data, stdout's too, so an engine that
floods stdout would otherwise fill its cell with the trace. An engine that went looking could
still write it; what it could gain is bounded by that check against the bytes on disk,
and the kill itself is struck by the tracer, which the engine cannot refuse.

`record_run` records instead one of the cell's own runs (clean-run's "run 1": the
real workflow, audit and STATE_DIR), kept among the invocations the checks judge, so
that checks over the trace (harness.checks.durability) judge the very run the other
checks do. That run's tracer is detached (``strace -D``): the harness waits for the
engine, as it would untraced, and not for processes the engine left behind, and the
trace is read up to the engine's own exit.

`Strike` is data (the point, whether the whole tree must be traced), printed into the
invocation's fault and the cell's record, so that a failure names the exact call.
"""

from __future__ import annotations

import random
import re
import shlex
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SpawnError
from harness.eventlog import running_attempts
from harness.faults.procedures import Ctx
from harness.layout import AUDIT_DIR, STATE, WORKFLOW, input_file, state_dir
from harness.observe import Invocation
from harness.safefs import CellFiles
from harness.scenario import workflow_bytes
from harness.trace.durability import LOG_NAME, DurabilityCall, Kind, durability_calls, log_events
from harness.trace.plan import CrashPoint, crash_points, inject_prefix, log_before
from harness.trace.strace import FORKS, Call, TraceError, parse_trace, strace_prefix

TRACE_CAP = 8 << 20  # a trace beyond this is not kept: the recording is unavailable
EXIT_WAIT_S = 10.0  # how long a detached tracer may take to write the engine's exit
RECORD = "record"


@dataclass(frozen=True, slots=True)
class Recording:
    """A clean run's durability calls and crash points, or why there are none."""

    calls: tuple[DurabilityCall, ...] = ()
    points: tuple[CrashPoint, ...] = ()
    root: bool = True  # every point's thread is the one strace starts: trace it alone
    unavailable: str = ""
    by_candidate: bool = False  # unavailable for what the engine did, not for the tooling
    state: str = ""  # the recording's STATE_DIR, relative to the cell root
    workflow: str = ""  # the workflow file it ran, relative to the cell root
    run: str = ""  # the label of the recorded invocation

    @property
    def usable(self) -> tuple[CrashPoint, ...]:
        """The points a strike can hit alone."""
        return tuple(p for p in self.points if self.root or not p.ambiguous)

    def summary(self) -> dict[str, object]:
        if self.unavailable:
            return {"unavailable": self.unavailable, "by_candidate": self.by_candidate}
        return {"calls": len(self.calls), "crash_points": len(self.points),
                "usable": len(self.usable), "traced_alone": self.root,
                "syscalls": sorted({p.syscall for p in self.points})}


@dataclass(frozen=True, slots=True)
class Strike:
    """Kill the engine at its `point.ordinal`-th `point.syscall` touching `point.path`."""

    point: CrashPoint
    follow: bool  # trace the whole tree (a point's thread is not the one strace starts)
    recorded: str = ""  # what that call wrote in the clean recording, if it maps to one

    def describe(self) -> str:
        n, name, path = self.point.ordinal, self.point.syscall, self.point.path
        where = "STATE_DIR" if path == "." else path
        text = f"at the engine's {_ordinal(n)} {name} touching {where} (strace, exact)"
        return f"{text}: in the clean recording, {self.recorded}" if self.recorded else text

    def wrap(self, ctx: Ctx, state: str) -> list[str]:
        return inject_prefix(self.point, ctx.cell.engine_path(state), follow=self.follow,
                             trace_file="/dev/null", detach=True)

    def as_json(self) -> dict[str, object]:
        return {"kind": "exact", "syscall": self.point.syscall, "path": self.point.path,
                "ordinal": self.point.ordinal, "recorded": self.recorded}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def record(ctx: Ctx, name: str = RECORD, audit: str | None = None) -> Recording:
    """The scenario's workflow run once, cleanly, under strace, in STATE_DIR work/NAME,
    its probes writing the audit `audit` (relative to the cell root; by default an audit
    of its own, audit/NAME.jsonl). A run that resumes the recording's states must use its
    workflow file (`Recording.workflow`): the audit's path is in the workflow's bytes,
    and so in the digest the log was started with."""
    state = state_dir(name)
    rec = _record(ctx, state, name, audit=audit or f"{AUDIT_DIR}/{name}.jsonl")
    ctx.facts.setdefault("recordings", {})[name] = rec.summary()
    return rec


def record_run(ctx: Ctx, label: str, state: str = STATE, workflow: str = WORKFLOW) -> Recording:
    """The cell's own run `label` of `workflow` in `state`, under a detached strace, kept
    among the invocations the checks judge; its recording is also the plan's source."""
    rec = _record(ctx, state, label, workflow=workflow, keep=True)
    ctx.facts.setdefault("recordings", {})[label] = rec.summary()
    return rec


_CAPPER = """import sys
cap, out, n = int(sys.argv[1]), open(sys.argv[2], "wb", 0), 0
while True:
    b = sys.stdin.buffer.read1(1 << 16)
    if not b:
        break
    if n <= cap:
        out.write(b[:cap + 1 - n])
    n += len(b)
"""


def capped_output(python: str, path: str, cap: int = TRACE_CAP) -> str:
    """strace's ``-o`` argument that pipes the trace to `path`, keeping cap + 1 bytes at
    most (so that a reader capped at `cap` sees it was over) and draining the rest, so
    that strace never blocks or dies on a full pipe."""
    return "|" + shlex.join([python, "-S", "-c", _CAPPER, str(cap), path])


def _record(ctx: Ctx, state: str, name: str, *, audit: str | None = None,
            workflow: str | None = None, keep: bool = False) -> Recording:
    """Run the engine under strace and read its trace. Without `workflow`, the scenario's
    workflow is written afresh with an audit of its own, and the run is set apart from
    the ones the checks judge (ended with all it left). With one (keep), the run is the
    cell's own, named `name`, and left as it ended for the checks."""
    if not ctx.cell.traces:
        return Recording(unavailable=f"the {type(ctx.cell).__name__} cannot trace")
    if workflow is None:
        audit_path = ctx.cell.engine_path(audit or f"{AUDIT_DIR}/{name}.jsonl")
        workflow = input_file(f"{name}.json")
        ctx.files.write(workflow, workflow_bytes(ctx.scenario.workflow, ctx.cell.probe_argv(),
                                                 audit_path))
    file = f"{name.replace(' ', '-')}.trace"
    engine_trace, host_trace = ctx.cell.trace_file(file)
    wrap = strace_prefix(capped_output(ctx.cell.python, engine_trace))
    if keep:
        wrap = [wrap[0], "-D", *wrap[1:]]
    try:
        inv = ctx.call(ctx.run_args(workflow, state),
                       name if keep else f"{name} (clean, under strace)", wrap=wrap)
    except SpawnError as exc:  # strace itself is missing: the candidate's image has none
        return Recording(unavailable=f"strace could not be started: {exc}")
    if not keep:
        ctx.invocations.remove(inv)  # the checks judge the real runs; this one is the plan's
        ctx.facts.setdefault("recording_runs", []).append(inv)
        ctx.cell.end_all()
    raw = _read_trace(host_trace, detached=keep)
    if raw is None:
        return Recording(unavailable="strace wrote no trace (is strace in the image, on PATH?)")
    if inv.returncode != 0:
        why = "it never exited" if inv.returncode is None else f"it exited {inv.returncode}"
        return Recording(unavailable=f"the clean recording run did not succeed: {why}", by_candidate=True)
    if len(raw) > TRACE_CAP:
        return Recording(unavailable=f"the trace is over {TRACE_CAP >> 20} MiB", by_candidate=True)
    try:
        calls = parse_trace(raw.decode("utf-8", "replace"))
    except TraceError as exc:
        return Recording(unavailable=f"the trace could not be read: {exc}")
    dcalls = durability_calls(calls, ctx.cell.engine_path(state))
    assembled = b"".join(e.raw for e in log_events(dcalls))
    on_disk = ctx.files.read(f"{state}/events.jsonl", TRACE_CAP) or b""
    if assembled != on_disk:
        return Recording(unavailable=f"the traced writes assemble {len(assembled)} bytes of"
                         f" log, but the log on disk holds {len(on_disk)} that differ: the"
                         " trace is not what happened", by_candidate=True)
    points = crash_points(dcalls)
    if not points:
        return Recording(unavailable="the trace holds no write to the log", by_candidate=True)
    return Recording(tuple(dcalls), tuple(points), traced_alone(calls, dcalls, points),
                     state=state, workflow=workflow, run=inv.label)


def traced_alone(calls: Sequence[Call], dcalls: Sequence[DurabilityCall],
                 points: Sequence[CrashPoint]) -> bool:
    """Whether every point is a call of the thread strace starts, so that a strike may
    trace that thread alone: without -f strace follows no child and no thread, and a
    point on a thread the engine made (clone3's result, like a fork's) needs -f."""
    born = {c.ret for c in calls if c.syscall in FORKS}
    return not {dcalls[p.index].call.pid for p in points} & born


_PID = re.compile(rb"^(\d+) ", re.MULTILINE)


def _read_trace(host_trace: Path, *, detached: bool) -> bytes | None:
    """The trace's bytes (None: no file). A detached tracer may still be writing when
    the engine has exited (it traces what the engine left running): wait, a bounded
    time, for the line of the engine's own exit (the first process traced), and keep
    the trace up to it. Without it, what was written is returned; the check of the
    assembled log against the one on disk judges it."""
    files = CellFiles(host_trace.parent)
    raw = files.read(host_trace.name, TRACE_CAP + 1)
    if not detached:
        return raw
    deadline = time.monotonic() + EXIT_WAIT_S
    while True:
        end = _root_exit(raw or b"")
        if end is not None or time.monotonic() >= deadline:
            return raw if end is None or raw is None else raw[:end]
        time.sleep(0.05)
        raw = files.read(host_trace.name, TRACE_CAP + 1)


def _root_exit(raw: bytes) -> int | None:
    """The end of the first traced process's exit line ('PID [TS] +++ exited with N +++'
    or '+++ killed by SIG +++'), or None while there is none. strace pads a short pid
    with spaces ('7     1796085359.9 +++ exited with 0 +++'), as a container's are."""
    first = _PID.search(raw)
    if first is None:
        return None
    pid = re.escape(first.group(1))
    m = re.search(rb"^" + pid + rb" +(?:[\d.]+ +)?\+\+\+ (?:exited|killed)[^\n]*\n", raw,
                  re.MULTILINE)
    return m.end() if m else None


def strike_at(rec: Recording, point: CrashPoint) -> Strike:
    """A strike at one recorded point, in a run that starts as the recording did."""
    return Strike(point, follow=not rec.root, recorded=point.description)


def seeded_strike(rec: Recording, rng: random.Random, *, fresh: bool, span: int) -> Strike:
    """A seeded strike among the recorded points. In a fresh run (fresh) the point keeps
    its recorded place. A resumed run replays first and writes another sequence, and the
    files beside the log may be named per attempt; so it is struck at a seeded ordinal,
    in 1..span, of a call the recording made on the log itself."""
    if fresh:
        return strike_at(rec, fresh_point(rec, rng))
    on_log = [p for p in rec.usable if p.path == LOG_NAME] or list(rec.usable)
    point = rng.choice(on_log)
    n = rng.randint(1, max(1, span))
    return Strike(CrashPoint(point.index, point.syscall, point.path, n, point.role,
                             "", point.ambiguous), follow=not rec.root)


def fresh_point(rec: Recording, rng: random.Random) -> CrashPoint:
    """A seeded call on the log for a run that starts as the recording did, drawn by its
    place among the recording's calls on the log, between the first and the last at
    which an attempt runs (its STEP_STARTED complete, its end not yet written).

    The draw is by place, not by what the call carried: steps that run together may
    finish in another order in the next run (or the next recording), but an engine makes
    the same calls for every event, so the i-th call on the log is the same syscall with
    the same ordinal whichever step's event it writes; and the calls before the first
    step runs, and after the last ends, are made in one order only. So the same seed
    strikes the same call, whatever order a loaded machine gives the recording. (A draw
    among the points at which an attempt runs would not be: which points those are moves
    with that order.)

    A drawn call at which nothing runs moves to the next call at which an attempt runs.
    Such calls lie between a group commit of ends and the group commit of the starts it
    made ready (the last running step ended, its dependents not yet started): struck
    there, the kill would leave no attempt for the next `run` to record as lost, and
    crash.lost_recorded unexercised for a correct engine. The move depends on the
    recording alone, so the same seed still strikes the same call for the same recording;
    the scenarios that use it space their steps' ends apart so that every recording of a
    correct engine has the same order."""
    on_log = [p for p in rec.usable if p.path == LOG_NAME]
    if not on_log:
        return rng.choice(list(rec.usable))
    inside = [i for i, p in enumerate(on_log) if running_attempts(log_before(rec.calls, p))]
    lo, hi = (inside[0], inside[-1]) if inside else (0, len(on_log) - 1)
    drawn = rng.randint(lo, hi)
    return on_log[next((i for i in inside if i >= drawn), drawn)]


def first_point(rec: Recording, want: Sequence[str] = (), *, lines: int = 0,
                after_publish: str = "") -> CrashPoint | None:
    """The first usable point whose log (as a kill there leaves it) holds `lines` complete
    events or more, and which comes after the publish of outputs/`after_publish` when
    one is named."""
    start = 0
    if after_publish:
        pub = next((i for i, d in enumerate(rec.calls) if d.kind is Kind.PUBLISH
                    and d.file == f"outputs/{after_publish}"), None)
        if pub is None:
            return None
        start = pub + 1
    for point in rec.usable:
        if point.index < start or (want and point.syscall not in want):
            continue
        if log_before(rec.calls, point).count(b"\n") >= lines:
            return point
    return None


def strike(ctx: Ctx, label: str, hit: Strike, state: str | None = None) -> Invocation:
    """One run, killed by strace at the strike's call (or finishing before it)."""
    inv = ctx.call(ctx.run_args(WORKFLOW, state or STATE), label,
                   wrap=hit.wrap(ctx, state or STATE), struck=hit.describe())
    ctx.facts.setdefault("faults", []).append(
        {"run": label, **hit.as_json(), "struck": inv.returncode == -signal.SIGKILL})
    return inv


def timed(ctx: Ctx, label: str, what: str, struck: bool) -> None:
    """Note a fault that a polled trigger struck (about time itself, or no recording)."""
    ctx.facts.setdefault("faults", []).append({"run": label, "kind": "timed", "at": what,
                                               "struck": struck})
