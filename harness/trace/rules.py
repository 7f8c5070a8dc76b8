"""Durability judgements over the `DurabilityCall`s of one recorded clean run.

Each rule takes the calls `durability_calls` kept, in trace order, and returns its
findings: one line each, naming the call (syscall, trace line, thread and process) and
the event or output it concerns; an empty list means the run kept the rule. `FINDERS`
gives the same findings as `Finding`s, each with the call it names first
(harness.checks.durability turns them into evidence). The rules read TASK.md's log and
output rules as a trace can show them:

- `unsynced_events`: every event, once its last byte is written, is fsynced (fsync or
  fdatasync of events.jsonl, successful, by the process that wrote it, on any of its
  threads: an fsync flushes the file, whichever thread asks) before the engine acts on
  it, as calls under STATE_DIR show acts: the publish of the output it records,
  the STEP_STARTED of a dependent (or of the failed step's next attempt), the workflow's
  end event, and the end of the trace. A later event that does not act on it is no act,
  so events that become ready together may share one fsync (group commit). The spawn
  itself is a clone outside STATE_DIR; tests/integration/test_trace_reference.py judges
  it with the probe's audit, and log.durable_before_acted in every run.
- `split_events`: every event is carried by exactly one write (a crash between two
  writes of one line tears it, which no fabricated torn tail models).
- `published_before_synced`: every link or rename into outputs/ follows an fsync of its
  source file, after that file's last write, by the publishing process (any of its
  threads). A step's command fsyncing its own output does not count: the contract's
  commands are arbitrary and need not (the harness's probe does, and would otherwise
  hide the defect).
- `unsynced_directories`: when the run creates events.jsonl (an O_CREAT open or a
  rename/link onto that name, its first successful call on it), STATE_DIR is fsynced
  after the creation and before the engine acts on the log: before the second event is
  written (the first one is not durable while the name holding it is not, and an event
  must be durable before the next is written), before any publish, and before the trace
  ends. TASK.md demands this ("Fsync the directory when you create the file", of the
  log). It demands no fsync of outputs/ after a link: `unsynced_output_directories`
  says where none followed, as notes, never as findings.

sync_file_range is not counted as an fsync: it flushes no metadata and no disk cache.
"Process" is `Call.proc`, the thread group: strace -f names threads, and an engine in
any language may write on one thread and fsync on another. Pure: calls in, strings out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harness.trace.durability import LOG_NAME, OUTPUTS, DurabilityCall, Kind, LogEvent, log_events
from harness.trace.strace import O_CREAT


@dataclass(frozen=True, slots=True)
class Finding:
    """One breach of a rule: the line that says it, and the call it names first."""

    text: str
    call: DurabilityCall


Rule = Callable[[Sequence[DurabilityCall]], list[str]]
Finder = Callable[[Sequence[DurabilityCall]], list[Finding]]
_FSYNCS = ("fsync", "fdatasync")
NOT_DEMANDED = "not demanded by the contract"


def where(dc: DurabilityCall) -> str:
    """The call, as a finding names it (a thread's process too, when they differ)."""
    c = dc.call
    of = f" of process {c.proc}" if c.proc != c.pid else ""
    return f"{c.syscall} at trace line {c.line} (pid {c.pid}{of})"


def describe(event: LogEvent) -> str:
    """The event, as a finding names it: 'the STEP_SUCCEEDED of step b (seq 12)'."""
    if event.event is None:
        return f"line {event.index + 1} of the log (not a whole JSON event)"
    kind, step = event.event.get("type"), event.event.get("step")
    of = f" of step {step}" if step is not None else ""
    return f"the {kind}{of} (seq {event.seq})"


def _ok(dc: DurabilityCall) -> bool:
    return not dc.call.failed and dc.call.ret is not None


def _fsync_of(dc: DurabilityCall, file: str, proc: int | None = None) -> bool:
    """Whether dc is a successful fsync of file (by process proc, on any of its threads)."""
    return (dc.kind is Kind.SYNC and dc.call.syscall in _FSYNCS and dc.file == file and _ok(dc)
            and (proc is None or dc.call.proc == proc))


def _carriers(calls: Sequence[DurabilityCall], index: int) -> list[int]:
    return [i for i, dc in enumerate(calls) if dc.kind is Kind.LOG_WRITE and index in dc.events]


def _act_name(calls: Sequence[DurabilityCall], at: int | None) -> str:
    """What the call at `at` did, as a finding names it: a publish, or the event it wrote."""
    if at is None:
        return "the end of the trace"
    dc = calls[at]
    if dc.kind is Kind.PUBLISH:
        return f"outputs/{dc.step} was published ({where(dc)})"
    events = {e.index: e for e in log_events(calls)}
    first = events.get(min(dc.events)) if dc.events else None
    what = describe(first) if first is not None else "the next event"
    return f"{what} was written ({where(dc)})"


def _acts_on(event: LogEvent, later: LogEvent | None, publish: DurabilityCall | None,
             deps: Mapping[str, Sequence[str]] | None) -> bool:
    """Whether writing `later` (or publishing `publish`) acts on `event` (TASK.md: an event
    is fsynced before the engine acts on what it records; group commit is not acting)."""
    kind = event.event.get("type") if event.event else None
    step = event.event.get("step") if event.event else None
    if publish is not None:
        return kind in ("WORKFLOW_STARTED", "WORKFLOW_RESUMED") or (
            kind == "STEP_SUCCEEDED" and publish.step == step)
    if later is None or later.event is None:
        return False
    what, whom = later.event.get("type"), later.event.get("step")
    if what in ("WORKFLOW_SUCCEEDED", "WORKFLOW_FAILED"):
        return True  # the end acts on everything before it
    if what != "STEP_STARTED":
        return False
    if kind in ("WORKFLOW_STARTED", "WORKFLOW_RESUMED"):
        return True  # any step's start
    if kind in ("STEP_FAILED", "STEP_RETRY_SCHEDULED"):
        return whom == step  # the next attempt acts on the failure and its retry
    if kind == "STEP_SUCCEEDED":  # a dependent's start (without deps: any step's start)
        return deps is None or str(step) in deps.get(str(whom), ())
    return False


def unsynced_events_at(calls: Sequence[DurabilityCall],
                       deps: Mapping[str, Sequence[str]] | None = None) -> list[Finding]:
    """Events not fsynced by their writer before the engine acted on them.

    An act on an event, as a trace shows it: publishing the output of the step it
    records as succeeded; the start of a step that depends on that step (deps: step ->
    depends_on; without it, any step's start); the next attempt of a step it records
    as failed; the workflow's end event; the end of the trace (the engine exited). A
    later event that does not act on it is no act: events that become ready together
    may share one fsync (group commit)."""
    found = []
    lines = log_events(calls)
    first_write: dict[int, int] = {}  # event -> the write that began it
    for e in lines:
        carriers = _carriers(calls, e.index)
        if carriers:
            first_write[e.index] = carriers[0]
    for event in lines:
        carriers = _carriers(calls, event.index)
        if not carriers:
            continue
        last = carriers[-1]
        act = next((i for i in range(last + 1, len(calls)) if _ok(calls[i]) and (
            (calls[i].kind is Kind.PUBLISH and _acts_on(event, None, calls[i], deps))
            or (calls[i].kind is Kind.LOG_WRITE and any(
                first_write.get(j) == i and _acts_on(event, lines[j], None, deps)
                for j in calls[i].events if j < len(lines))))), None)
        stop = len(calls) if act is None else act
        proc = calls[last].call.proc
        if not any(_fsync_of(calls[i], LOG_NAME, proc) for i in range(last + 1, stop)):
            found.append(Finding(f"{describe(event)}, written by {where(calls[last])}, was"
                                 f" never fsynced by its writer before {_act_name(calls, act)}",
                                 calls[last]))
    return found


def split_events_at(calls: Sequence[DurabilityCall]) -> list[Finding]:
    """Events carried by more than one write."""
    found = []
    for event in log_events(calls):
        carriers = _carriers(calls, event.index)
        if len(carriers) > 1:
            names = ", then ".join(where(calls[i]) for i in carriers)
            found.append(Finding(f"{describe(event)} was written in {len(carriers)} writes"
                                 f" ({names}): a crash between them tears it", calls[carriers[0]]))
    return found


def _last_change(calls: Sequence[DurabilityCall], before: int, file: str) -> int:
    """The position of the last write or truncate of file before `before` (-1: none)."""
    return max((i for i in range(before) if calls[i].kind in (Kind.WRITE, Kind.TRUNCATE)
                and calls[i].rel[:1] == (file,) and _ok(calls[i])), default=-1)


def published_before_synced_at(calls: Sequence[DurabilityCall]) -> list[Finding]:
    """Outputs linked or renamed into outputs/ before the publisher fsynced their data."""
    found = []
    for at, dc in enumerate(calls):
        if dc.kind is not Kind.PUBLISH or not _ok(dc):
            continue
        source = dc.rel[0] if len(dc.rel) > 1 else ""
        if not source:
            found.append(Finding(f"{where(dc)} published outputs/{dc.step} from outside"
                                 " STATE_DIR: no fsync of its data can be seen", dc))
            continue
        start = _last_change(calls, at, source)
        if not any(_fsync_of(calls[i], source, dc.call.proc) for i in range(start + 1, at)):
            later = next((where(calls[i]) for i in range(at + 1, len(calls))
                          if _fsync_of(calls[i], source, dc.call.proc)), None)
            after = f"; it fsynced it only after, {later}" if later else ""
            found.append(Finding(f"{where(dc)} published outputs/{dc.step} from {source}"
                                 " before the publishing process fsynced that file's"
                                 f" data{after}", dc))
    return found


def _creates(dc: DurabilityCall, name: str) -> bool:
    if dc.kind is Kind.OPEN:
        return dc.file == name and dc.call.flags is not None and bool(dc.call.flags & O_CREAT)
    return dc.kind in (Kind.MOVE, Kind.PUBLISH) and dc.file == name


def _creation(calls: Sequence[DurabilityCall], name: str) -> int | None:
    """The position of the call that created `name`: its first successful call, when
    that call can create it (None: it was there before the trace, or never made)."""
    first = next((i for i, dc in enumerate(calls) if name in dc.rel and _ok(dc)), None)
    return first if first is not None and _creates(calls[first], name) else None


def log_created(calls: Sequence[DurabilityCall]) -> bool:
    """Whether the calls create events.jsonl (else it was there before, or never made)."""
    return _creation(calls, LOG_NAME) is not None


def unsynced_directories_at(calls: Sequence[DurabilityCall]) -> list[Finding]:
    """A created events.jsonl whose directory was not fsynced before the log was acted on."""
    made = _creation(calls, LOG_NAME)
    if made is None:
        return []
    second = next((i for i in range(made + 1, len(calls)) if calls[i].kind is Kind.LOG_WRITE
                   and _ok(calls[i]) and max(calls[i].events, default=0) > 0), None)
    publish = next((i for i in range(made + 1, len(calls)) if calls[i].kind is Kind.PUBLISH), None)
    stops = [i for i in (second, publish) if i is not None]
    stop = min(stops) if stops else None
    if any(_fsync_of(calls[i], ".") for i in range(made + 1, len(calls) if stop is None else stop)):
        return []
    return [Finding(f"{where(calls[made])} created {LOG_NAME}, and STATE_DIR was not fsynced"
                    f" before {_act_name(calls, stop)}: after a power loss the log's name,"
                    " with every event in it, may be gone", calls[made])]


def unsynced_output_directories(calls: Sequence[DurabilityCall]) -> list[str]:
    """Notes (never findings: TASK.md does not demand it) on links into outputs/ that no
    later fsync of outputs/ made durable."""
    notes = []
    for at, dc in enumerate(calls):
        if dc.kind is Kind.PUBLISH and _ok(dc) and not any(
                _fsync_of(calls[i], posixpath.dirname(dc.file)) for i in range(at + 1, len(calls))):
            notes.append(f"{NOT_DEMANDED}: {where(dc)} published outputs/{dc.step}, and"
                         f" {OUTPUTS}/ was never fsynced after it")
    return notes


def _texts(finder: Finder) -> Rule:
    def rule(calls: Sequence[DurabilityCall]) -> list[str]:
        return [f.text for f in finder(calls)]

    rule.__doc__ = finder.__doc__
    return rule


def unsynced_events(calls: Sequence[DurabilityCall],
                    deps: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """`unsynced_events_at`'s findings as lines."""
    return [f.text for f in unsynced_events_at(calls, deps)]



split_events = _texts(split_events_at)
published_before_synced = _texts(published_before_synced_at)
unsynced_directories = _texts(unsynced_directories_at)

FINDERS: dict[str, Finder] = {
    "unsynced_events": unsynced_events_at,
    "split_events": split_events_at,
    "published_before_synced": published_before_synced_at,
    "unsynced_directories": unsynced_directories_at,
}
RULES: dict[str, Rule] = {name: _texts(finder) for name, finder in FINDERS.items()}


def judge(calls: Sequence[DurabilityCall]) -> dict[str, list[str]]:
    """Every rule's findings, by rule name."""
    return {name: rule(calls) for name, rule in RULES.items()}
