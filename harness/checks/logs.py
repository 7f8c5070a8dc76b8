"""Checks on the event log itself: schema, seq, first and last events, append-only.

These read the bytes of events.jsonl as the engine left them. `log.append_only` is
what catches a log that is truncated or rewritten when it is reopened: every complete
line that was on disk before an invocation must still be there, unchanged, after it.
Every scenario that applies them runs a valid workflow, whose steps the contract has
run: a log written while no step ran is no log of a run, and fails each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import (
    events,
    excerpt,
    named_processes,
    of_type,
    sha256,
    step_ids,
    steps_ran,
)
from harness.eventlog import TERMINAL, complete_prefix, event_problems, parse_log, seq_problems
from harness.model import Evidence, Severity
from harness.observe import Observation

LOG_PATH = "STATE_DIR/events.jsonl"


@check("log.schema", "durable_log", Severity.MAJOR)
def schema(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Every line of the final log is a complete JSON event with the contract's fields.

    TASK.md: §"The event log" (the table of types and fields, and the sentence after it)."""
    parsed = parse_log(obs.final_log)
    out = steps_ran(obs)
    if not parsed.lines:
        return [Evidence("a log with events", "no complete event", LOG_PATH,
                         excerpt(obs.final_log))]
    if parsed.damaged or parsed.torn:
        bad = parsed.damaged[0].number if parsed.damaged else len(parsed.lines) + 1
        out.append(Evidence("every line a JSON object ending in a newline",
                            "a line that is not", f"{LOG_PATH} line {bad}",
                            excerpt(obs.final_log, bad)))
    for line in parsed.lines:
        problems = event_problems(line.event or {}, step_ids(obs))
        if problems:
            out.append(Evidence("an event with the contract's fields", "; ".join(problems),
                                f"{LOG_PATH} line {line.number}",
                                excerpt(obs.final_log, line.number)))
            break
    return out


@check("log.seq_contiguous", "durable_log", Severity.FATAL)
def seq_contiguous(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """seq is 1, 2, 3 ... with no gap and no repeat, across every resume.

    TASK.md: §"The event log" (`seq`: no gap and no repeat, across resumes too)."""
    evs = events(obs.final_log)
    problems = seq_problems(evs)
    if not evs:
        return [Evidence("events with seq 1, 2, 3 ...", "no events", LOG_PATH)]
    if problems:
        first_bad = next(i for i, e in enumerate(evs, 1) if e.get("seq") != i)
        return [Evidence("seq 1, 2, 3 ... with no gap and no repeat", problems[0],
                         f"{LOG_PATH} line {first_bad}", excerpt(obs.final_log, first_bad))]
    return steps_ran(obs)


@check("log.started_first", "durable_log", Severity.MAJOR)
def started_first(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """The first event is the only WORKFLOW_STARTED, with the workflow's name and digest.

    TASK.md: §"The event log" (WORKFLOW_STARTED: the first line, once; `workflow`,
    `digest`)."""
    evs = events(obs.final_log)
    digest = sha256(obs.workflow_bytes)
    first = evs[0] if evs else {}
    want = f"WORKFLOW_STARTED with workflow={obs.workflow['name']!r} and digest={digest}"
    seen = (f"{first.get('type')} workflow={first.get('workflow')!r} digest={first.get('digest')}"
            if first else "no events")
    if not (first.get("type") == "WORKFLOW_STARTED" and first.get("digest") == digest
            and first.get("workflow") == obs.workflow["name"]):
        return [Evidence(want, seen, f"{LOG_PATH} line 1", excerpt(obs.final_log, 1))]
    if len(of_type(evs, "WORKFLOW_STARTED")) != 1:
        return [Evidence("WORKFLOW_STARTED exactly once",
                         f"{len(of_type(evs, 'WORKFLOW_STARTED'))} times", LOG_PATH)]
    return steps_ran(obs)


@check("log.ends_once", "durable_log", Severity.MAJOR)
def ends_once(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Exactly one WORKFLOW_SUCCEEDED or WORKFLOW_FAILED, and it is the last event.

    TASK.md: §"The event log" (WORKFLOW_SUCCEEDED, WORKFLOW_FAILED: the end, once, last)."""
    evs = events(obs.final_log)
    ends = [i for i, e in enumerate(evs, 1) if e.get("type") in TERMINAL]
    if len(ends) != 1 or ends[0] != len(evs):
        at = ends[1] if len(ends) > 1 else len(evs)
        return [Evidence("one terminal event, last", f"terminal events at lines {ends or 'none'}"
                         f" of {len(evs)}", LOG_PATH, excerpt(obs.final_log, at))]
    return steps_ran(obs)


@check("log.append_only", "durable_log", Severity.FATAL)
def append_only(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """No invocation loses or rewrites a complete line that was on disk before it ran.

    TASK.md: §"The event log" (Durable before acted on: only ever appended to)."""
    if not any(complete_prefix(i.log_before or b"") for i in obs.invocations):
        # Every scenario applying this ends with status or a resume over the log: no
        # complete line before any of them means the engine never kept a log at all.
        return steps_ran(obs) or [Evidence(
            "a log of complete lines that later invocations run over", "no invocation ever"
            " found a complete line in the log", LOG_PATH, excerpt(obs.final_log))]
    for inv in obs.invocations:
        before = complete_prefix(inv.log_before or b"")
        after = inv.log_after or b""
        if before and not after.startswith(before):
            n = next((i for i, (a, b) in enumerate(zip(before.split(b"\n"),
                                                       after.split(b"\n"), strict=False), 1)
                      if a != b), 1)
            kept = before.count(b"\n")
            return [Evidence(f"the {kept} complete lines from before the"
                             " invocation kept byte for byte",
                             f"line {n} differs or is gone ({len(before)} bytes before,"
                             f" {len(after)} after)", f"{inv.describe()}; {LOG_PATH}",
                             "before:\n" + excerpt(before, n) + "\nafter:\n" + excerpt(after, n))]
    return steps_ran(obs)


@check("log.attempts_recorded", "durable_log", Severity.MAJOR)
def attempts_recorded(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Each attempt the probes saw is a STEP_STARTED naming its real pid/pgid and attempt.

    TASK.md: §"The event log" (STEP_STARTED: `pid`, `pgid`); §"Step semantics" (Environment:
    ENGINE_ATTEMPT equals `attempt` in STEP_STARTED)."""
    named = named_processes(obs, obs.final_log)
    out = steps_ran(obs)
    for rec in obs.starts():
        if rec["pid"] not in named:
            out.append(Evidence("a STEP_STARTED whose pid or pgid is the attempt's real one",
                                f"step {rec['step']} ran as pid {rec['pid']} pgid {rec['pgid']},"
                                " which no STEP_STARTED names", "audit vs " + LOG_PATH,
                                excerpt(obs.final_log)))
            continue
        match = [e for e in of_type(events(obs.final_log), "STEP_STARTED", rec["step"])
                 if e.get("pid") == rec["pid"] or e.get("pgid") == rec["pgid"]]
        if match and str(match[0].get("attempt")) != str(rec.get("attempt_env")):
            out.append(Evidence("ENGINE_ATTEMPT equal to the STEP_STARTED attempt",
                                f"ENGINE_ATTEMPT={rec.get('attempt_env')}, STEP_STARTED"
                                f" attempt={match[0].get('attempt')}", f"step {rec['step']}"))
    return out[:5]


@check("log.durable_before_acted", "durable_log", Severity.MAJOR)
def durable_before_acted(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A step's STEP_STARTED follows the STEP_SUCCEEDED of every step it depends on.

    The log is written in the order the engine writes it, and STEP_STARTED follows the
    spawn. So a STEP_STARTED before a dependency's STEP_SUCCEEDED proves that the engine
    started the step (it acted on the success) before the success was in the log.
    Types are matched ignoring case and underscores: misnamed types are log.schema's
    finding, and the order can still be judged.

    TASK.md: §"The event log" (Durable before acted on; STEP_STARTED comes after the spawn)."""
    deps = {s["id"]: tuple(s.get("depends_on", ())) for s in obs.workflow["steps"]}
    if not any(deps.get(r["step"]) for r in obs.starts()):
        return steps_ran(obs) or [Evidence(
            "a step that depends on others starts (the workflow runs to its end)",
            "none did: no success was ever acted on", "audit")]
    lines = [(ln.number, ln.event or {}) for ln in parse_log(obs.final_log).lines]

    def kind(e: Mapping[str, Any]) -> str:
        return str(e.get("type", "")).replace("_", "").upper()

    last_success = {str(e.get("step")): i for i, (_, e) in enumerate(lines)
                    if kind(e) == "STEPSUCCEEDED"}
    succeeded: set[str] = set()
    out = []
    for i, (line, e) in enumerate(lines):
        if kind(e) == "STEPSUCCEEDED":
            succeeded.add(str(e.get("step")))
        elif kind(e) == "STEPSTARTED":
            # Only a success written later proves the order; one the log lacks altogether
            # was lost or never written, which log.append_only and the status checks judge.
            early = [d for d in deps.get(str(e.get("step")), ())
                     if d not in succeeded and last_success.get(d, -1) > i]
            if early:
                out.append(Evidence(
                    f"STEP_STARTED of {e.get('step')!r} after STEP_SUCCEEDED of"
                    f" {', '.join(map(repr, deps[str(e.get('step'))]))}",
                    f"line {line} starts it before the STEP_SUCCEEDED of"
                    f" {', '.join(map(repr, early))}, written later",
                    f"{LOG_PATH}:{line}", excerpt(obs.final_log, line)))
    return out[:6]
