"""Checks on recovery after the engine was killed: no re-runs, lost attempts, resume.

A SIGKILLed engine writes nothing more, so the log as read after it died is exactly
what was durable at that moment. "Durable success" of a step is therefore dated no
later than the end of the first invocation whose log holds its STEP_SUCCEEDED; a run
of that step that the probes saw start after that moment is a forbidden re-run.
At-least-once re-runs of steps whose success was not yet durable are allowed.

Each of these needs its fault to have landed: a kill, then a run over what it left.
Where the seeded moment came after the engine had run every step, the check was not
exercised; where the engine ended or hung without running them, it failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import (
    events,
    excerpt,
    exit_evidence,
    fault_missed,
    of_kind,
    of_type,
    steps_all_succeeded,
    steps_ran,
)
from harness.eventlog import parse_log, running_attempts
from harness.model import Evidence, Severity
from harness.observe import Observation


@check("crash.no_rerun_after_success", "crash_recovery", Severity.FATAL)
def no_rerun_after_success(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A step whose STEP_SUCCEEDED was durable never runs again.

    TASK.md: §"The event log" (No re-run of a success); §"Crash recovery" step 10."""
    durable_at: dict[str, tuple[float, str]] = {}
    for inv in obs.invocations:
        for e in of_kind(events(inv.log_after), "STEP_SUCCEEDED"):
            durable_at.setdefault(str(e.get("step")), (inv.ended, inv.describe()))
    later = [i for i in obs.runs("run") if any(i.started >= t for t, _ in durable_at.values())]
    if not later:
        return fault_missed(obs, "no run began after a step's STEP_SUCCEEDED was durable, so"
                            " no step could run again")
    out = []
    for rec in obs.starts():
        when = durable_at.get(rec["step"])
        if when and float(rec["mono"]) > when[0]:
            out.append(Evidence(f"{rec['step']} never runs again once its success is durable",
                                f"it ran again (probe run {rec['run']}, pid {rec['pid']})"
                                f" {float(rec['mono']) - when[0]:.3f} s after",
                                f"audit; success durable by the end of {when[1]}",
                                excerpt(obs.final_log)))
    return out[:5]


@check("crash.lost_recorded", "crash_recovery", Severity.MAJOR)
def lost_recorded(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Every attempt the log shows running when the engine died is later recorded lost.

    TASK.md: §"Crash recovery" step 8."""
    lost = {(str(e.get("step")), e.get("attempt")) for e in of_kind(events(obs.final_log),
                                                                   "STEP_FAILED")
            if e.get("reason") == "lost"}
    struck = [i for i in obs.runs("run") if i.fault_at is not None and running_attempts(i.log_after)]
    if not struck:
        return fault_missed(obs, "no kill or signal struck a run while its log showed an"
                            " attempt running")
    out = []
    for inv in struck:
        for step, attempt in sorted(running_attempts(inv.log_after) - lost):
            out.append(Evidence(f"STEP_FAILED reason 'lost' for {step} attempt {attempt}",
                                "none in the final log", f"after {inv.describe()}",
                                excerpt(obs.final_log)))
    return out[:5]


@check("crash.resumed_event", "crash_recovery", Severity.MAJOR)
def resumed_event(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A run over an unfinished log writes WORKFLOW_RESUMED among its events.

    TASK.md: §"Crash recovery" step 7; §"The event log" (WORKFLOW_RESUMED in the table)."""
    resumed = False
    for inv in obs.invocations:
        before = parse_log(inv.log_before or b"")
        if not inv.label.startswith("run") or not before.lines or before.finished:
            continue
        new = events(inv.log_after)[len(before.lines):]
        resumed = resumed or bool(new)
        if new and not of_type(new, "WORKFLOW_RESUMED"):
            types = ", ".join(str(e.get("type")) for e in new[:5])
            return [Evidence("WORKFLOW_RESUMED among the events of a resumed run",
                             f"it wrote {len(new)} events without it: {types} ...",
                             inv.describe(), excerpt(inv.log_after, len(before.lines) + 1))]
    if not resumed:
        return fault_missed(obs, "no run wrote events over an unfinished log")
    return []


@check("crash.completes", "crash_recovery", Severity.FATAL)
def completes(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """After the faults, a later run finishes the workflow: every step ran to success (per
    the audit), the last run exits 0 and the log ends in WORKFLOW_SUCCEEDED.

    TASK.md: §"Crash recovery" steps 7 to 10; §"Step semantics" (Scheduling:
    WORKFLOW_SUCCEEDED, exit 0)."""
    runs = obs.runs("run")
    last = runs[-1] if runs else None
    if last is None or last.returncode != 0:
        return [exit_evidence(last, "exit 0 from the last run")] if last else [
            Evidence("a run", "none", "cell")]
    evs = events(obs.final_log)
    if not evs or evs[-1].get("type") != "WORKFLOW_SUCCEEDED":
        return [Evidence("the log ends in WORKFLOW_SUCCEEDED",
                         f"it ends in {evs[-1].get('type') if evs else 'nothing'}",
                         "STATE_DIR/events.jsonl", excerpt(obs.final_log))]
    return steps_all_succeeded(obs)


@check("crash.dead_lock_ignored", "single_writer_lock", Severity.MAJOR)
def dead_lock_ignored(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A lock left by a dead engine never blocks: no later run exits 4.

    TASK.md: §"The event log" (One writer: a dead engine's lock never blocks)."""
    ran = steps_ran(obs)  # a log with no step run behind it is no engine's crash state
    if ran:
        return ran
    runs = obs.runs("run")
    for inv in runs:
        if inv.returncode == 4:
            return [exit_evidence(inv, "no exit 4: the previous engine was dead")]
    if not any(i.fault_at is not None for i in runs[:-1]):
        return fault_missed(obs, "no engine was killed with a run after it, so no dead"
                            " engine's lock was met")
    return []
