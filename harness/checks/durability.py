"""Checks over a recorded trace: durability that no process kill can show.

A SIGKILL leaves the page cache in place, so an engine that never fsyncs, or writes an
event in two writes, passes every kill scenario. These checks read instead the calls a
scenario recorded under strace (`obs.facts["recording"]`, a
`harness.faults.exact.Recording`: clean-run records its own "run 1") and apply
TASK.md's rules to them through `harness.trace.rules`. Each finding names the call (its
trace line, syscall and pid) and the event or output it concerns.

An engine that ran no step fails them, as every check of a run that should have run its
steps (`steps_ran`): a trace of no work keeps every rule. Otherwise, without a usable
recording (a runner that cannot trace, a run that failed, a trace that is not what
happened) there is nothing to judge: the checks are not exercised, and say why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checks import NotExercised, check
from harness.checks.common import steps_ran
from harness.faults.exact import Recording
from harness.model import Evidence, Severity
from harness.observe import Observation
from harness.trace.durability import LOG_NAME, DurabilityCall, Kind
from harness.trace.rules import (
    Finder,
    log_created,
    published_before_synced_at,
    split_events_at,
    unsynced_directories_at,
    unsynced_events_at,
    where,
)

SHOWN = 3  # findings kept as evidence; the rest are counted
DATA_SHOWN = 300  # bytes of a write's data shown in an excerpt


def gate(obs: Observation) -> list[Evidence]:
    """Evidence when there is nothing to judge through the engine's own doing: no step ran,
    or its recorded run left no usable trace (it failed, its writes do not make the log on
    disk, it wrote no event). The harness's tooling missing is `recording`'s NotExercised."""
    ran = steps_ran(obs)
    if ran:
        return ran
    rec = obs.facts.get("recording")
    if isinstance(rec, Recording) and rec.unavailable and rec.by_candidate:
        return [Evidence("a recorded run whose trace can be judged",
                         f"no usable trace of the run: {rec.unavailable}", rec.run or "cell")]
    return []


def recording(obs: Observation) -> Recording:
    """The scenario's usable recording, or NotExercised saying why there is none."""
    rec = obs.facts.get("recording")
    if not isinstance(rec, Recording):
        raise NotExercised("the scenario recorded no run under strace")
    if rec.unavailable:
        raise NotExercised(f"no usable trace of the run: {rec.unavailable}", rec.run or "cell")
    return rec


def call_excerpt(dc: DurabilityCall) -> str:
    """The call as a trace shows it: syscall, paths under STATE_DIR, result, and the data
    a write wrote (cut at DATA_SHOWN bytes)."""
    c = dc.call
    paths = ", ".join(p if p != "." else "STATE_DIR" for p in dc.rel)
    ret = "?" if c.ret is None else f"-1 {c.errno}" if c.failed else str(c.ret)
    of = f" (process {c.proc})" if c.proc != c.pid else ""  # a thread's process
    line = f"{c.line}: pid {c.pid}{of} {c.syscall}({paths}) = {ret}"
    if c.data is not None:
        cut = "..." if len(c.data) > DATA_SHOWN else ""
        line += f"\n  data: {c.data[:DATA_SHOWN]!r}{cut}"
    return line


def _judge(obs: Observation, finder: Finder, expected: str) -> list[Evidence]:
    rec = recording(obs)
    found = finder(rec.calls)
    out = [Evidence(expected, f.text, f"{rec.run or 'the recorded run'}: {where(f.call)}",
                    call_excerpt(f.call)) for f in found[:SHOWN]]
    if len(found) > SHOWN:
        out.append(Evidence(expected, f"{len(found) - SHOWN} more like these",
                            rec.run or "the recorded run"))
    return out


def _needs(calls: Sequence[DurabilityCall], kind: Kind, what: str, rec: Recording) -> None:
    if not any(dc.kind is kind and not dc.call.failed for dc in calls):
        raise NotExercised(f"the recorded run made no {what}", rec.run or "cell")


@check("durability.events_whole", "durable_log", Severity.MAJOR)
def events_whole(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """TASK.md, "Durable before acted on": each event is written whole, with a single write
    of the complete line. An event carried by two writes is torn by a crash between them.

    TASK.md: §"The event log" (Durable before acted on);
    §"How the harness crashes an engine" (Rules read from the trace)."""
    return gate(obs) or _judge(obs, split_events_at,
                                    "every event written by one write of the whole line")


@check("durability.synced_before_acted", "durable_log", Severity.MAJOR)
def synced_before_acted(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """TASK.md, "Durable before acted on": each event is fsynced before the engine acts on
    it. In the trace: the log is fsynced (fsync or fdatasync, by the event's writer) after
    each event and before an act on it: the publish of the output it records, the
    STEP_STARTED of a step that depends on it (per the workflow) or of the failed step's
    next attempt, the workflow's end event, and the engine's exit. Events that become
    ready together may share one fsync. A write left in the page cache is lost by a
    power loss.

    TASK.md: §"The event log" (Durable before acted on);
    §"How the harness crashes an engine" (Rules read from the trace)."""
    deps = {str(s["id"]): [str(d) for d in s.get("depends_on", [])]
            for s in obs.workflow.get("steps", [])}
    return gate(obs) or _judge(obs, lambda calls: unsynced_events_at(calls, deps),
                                    "each event fsynced by its writer before the engine acts"
                                    " on it")


@check("durability.log_dir_synced", "durable_log", Severity.MINOR)
def log_dir_synced(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """TASK.md, "Durable before acted on": fsync the directory when you create the file. In
    the trace: after events.jsonl is created, STATE_DIR is fsynced before the second event
    is written, before any publish and before the run ends; otherwise a power loss can
    take the log's name, with every event in it.

    TASK.md: §"The event log" (Durable before acted on: fsync the directory);
    §"How the harness crashes an engine" (Rules read from the trace). The deadline (before
    the second event) is the harness's reading."""
    if gate(obs):
        return gate(obs)
    rec = recording(obs)
    if not log_created(rec.calls):
        raise NotExercised(f"the recorded run did not create {LOG_NAME} (it was there"
                           " before)", rec.run or "cell")
    return _judge(obs, unsynced_directories_at, f"STATE_DIR fsynced after {LOG_NAME} is"
                  " created, before the log is acted on")


@check("durability.output_synced_before_publish", "exactly_once_outputs", Severity.MAJOR)
def output_synced_before_publish(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """TASK.md, "Outputs": a reader sees no file, or the whole output, never a partial one.
    An output linked or renamed into outputs/ before its data was fsynced can be seen empty
    or partial after a power loss; so the publishing process fsyncs the file after its last
    write and before the link or rename.

    TASK.md: §"Step semantics" (Outputs: a file linked or renamed before its data was
    fsynced); §"How the harness crashes an engine" (Rules read from the trace)."""
    if gate(obs):
        return gate(obs)
    rec = recording(obs)
    _needs(rec.calls, Kind.PUBLISH, "link or rename into outputs/", rec)
    return _judge(obs, published_before_synced_at, "the output's data fsynced by the"
                  " publisher before it is linked or renamed into outputs/")
