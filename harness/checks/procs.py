"""Checks on processes: timeouts end whole groups, signals and resumes leave no orphans.

Liveness comes from the runner (pid plus start time, so a reused pid is not mistaken
for a survivor; zombies count as dead). Death times are the first moment the harness
saw a process dead: an upper bound, so a pass is never a false pass. The probe also
records, at each start, which earlier recorded processes were still alive at that
instant: that is how "ended before the steps run again" is judged without any race.

Each scenario here makes its premise certain for an engine that keeps the contract
(steps that hang until they are ended, a signal once three of them run), so a premise
that never came about is the engine's failure, never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import NotExercised, check
from harness.checks.common import (
    events,
    excerpt,
    exit_evidence,
    named_processes,
    of_type,
    steps_ran,
)
from harness.model import Evidence, Severity
from harness.observe import Invocation, Observation

GRACE_S = 3.0  # the contract: SIGKILL at most 2 s after SIGTERM; 1 s for the engine to act


def _step_conf(obs: Observation, step: str) -> Mapping[str, Any]:
    return next(s for s in obs.workflow["steps"] if s["id"] == step)


def _hung_runs(obs: Observation, step: str) -> list[Mapping[str, Any]]:
    ended = {r["pid"] for r in obs.ends(step)}
    return [r for r in obs.starts(step) if r["pid"] not in ended]


def _group_of(obs: Observation, probe_pid: int) -> list[int]:
    return [probe_pid] + [int(r["pid"]) for r in obs.audit
                          if r.get("kind") == "child" and r.get("parent") == probe_pid]


@check("procs.timeout_group_ended", "process_groups", Severity.FATAL)
def timeout_group_ended(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """At timeout_s the whole group ends, grandchildren that ignore SIGTERM included.

    TASK.md: §"Step semantics" (Process groups and timeouts)."""
    step = str(params["step"])
    limit = float(_step_conf(obs, step)["timeout_s"]) + GRACE_S
    hung = _hung_runs(obs, step)
    if not hung:
        return [Evidence(f"{step} ran and hung (the scenario's premise)", "it never did",
                         "audit")]
    out = []
    for run in hung:
        for pid in _group_of(obs, int(run["pid"])):
            died = obs.deaths.get(pid)
            if died is None or died - float(run["mono"]) > limit:
                seen = ("still alive at the end" if died is None
                        else f"gone only {died - float(run['mono']):.2f} s after the start")
                out.append(Evidence(f"pid {pid} of {step} run {run['run']} gone within"
                                    f" timeout_s + {GRACE_S:.0f} s = {limit:.1f} s", seen,
                                    f"audit: {step} run {run['run']} group {run['pgid']}"))
    return out[:5]


def _attempt_of(obs: Observation, run: Mapping[str, Any]) -> Any:
    for e in of_type(events(obs.final_log), "STEP_STARTED", str(run["step"])):
        if e.get("pid") == run["pid"] or e.get("pgid") == run["pgid"]:
            return e.get("attempt")
    return None


@check("procs.timeout_reason", "timeouts", Severity.MAJOR)
def timeout_reason(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A timed-out attempt is recorded as STEP_FAILED with reason 'timeout'.

    TASK.md: §"Step semantics" (Process groups and timeouts: reason `timeout`)."""
    step = str(params["step"])
    out = []
    for run in _hung_runs(obs, step):
        attempt = _attempt_of(obs, run)
        failed = [e for e in of_type(events(obs.final_log), "STEP_FAILED", step)
                  if e.get("attempt") == attempt]
        reason = failed[0].get("reason") if failed else None
        if attempt is None or reason != "timeout":
            out.append(Evidence(f"STEP_FAILED reason 'timeout' for {step} attempt {attempt}",
                                f"reason {reason!r}" if failed else "no STEP_FAILED",
                                "STATE_DIR/events.jsonl", excerpt(obs.final_log)))
    return out or ([] if _hung_runs(obs, step) else [
        Evidence(f"{step} timed out", "it never ran", "audit")])


@check("procs.retry_after_timeout", "retries", Severity.MAJOR)
def retry_after_timeout(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """The retry policy applies to a timed-out attempt: it is retried, then succeeds.

    TASK.md: §"Step semantics" (Process groups and timeouts: the retry policy applies;
    Retries and backoff)."""
    step = str(params["step"])
    runs, want = len(obs.starts(step)), int(params["runs"])
    evs = events(obs.final_log)
    retries = of_type(evs, "STEP_RETRY_SCHEDULED", step)
    _retry_had_no_time(obs, evs, step)
    out = []
    if runs != want:
        out.append(Evidence(f"{step} runs {want} times", f"{runs} times", "audit"))
    if not retries:
        out.append(Evidence(f"STEP_RETRY_SCHEDULED for {step}", "none",
                            "STATE_DIR/events.jsonl", excerpt(obs.final_log)))
    run1 = obs.runs("run")[0]
    if run1.returncode != 0:
        out.append(exit_evidence(run1, "exit 0 (the retry succeeds)"))
    return out


def _retry_had_no_time(obs: Observation, evs: list[Mapping[str, Any]], step: str) -> None:
    """NotExercised when the retry (the last attempt) timed out too, having had its whole
    timeout:
    the probe (a Python program) did not finish, or did not even start, within timeout_s
    on this machine, so whether a retry succeeds was never put to the test. An engine
    that ends an attempt before its timeout_s is not excused: by its own log it waited
    less. (Its log can only buy it this not-exercised; the hang itself, the group's end
    and the reason are judged by the scenario's other checks from the audit.)"""
    starts = of_type(evs, "STEP_STARTED", step)
    if len(starts) < 2 or not of_type(evs, "STEP_RETRY_SCHEDULED", step):
        return  # no retry ever started: nothing to excuse (an engine that never retries)
    last = starts[-1]
    failed = [e for e in of_type(evs, "STEP_FAILED", step)
              if e.get("attempt") == last.get("attempt") and e.get("reason") == "timeout"]
    limit = _step_conf(obs, step).get("timeout_s")
    ended = {r.get("pid") for r in obs.ends(step)}
    if not failed or limit is None or last.get("pid") in ended:
        return
    try:
        waited = float(failed[0]["ts"]) - float(last["ts"])
    except (KeyError, TypeError, ValueError):
        return
    if waited >= float(limit):
        raise NotExercised(
            f"the retry of {step} (attempt {last.get('attempt')}) timed out too, after"
            f" {waited:.2f} s (timeout_s {limit}): its probe did not finish in time on this"
            f" machine, so no retry had the chance to succeed", "STATE_DIR/events.jsonl")


def _signalled(obs: Observation) -> Invocation | None:
    return next((i for i in obs.invocations if i.fault_at is not None), None)


def _never_struck(obs: Observation, what: str) -> list[Evidence]:
    """The scenario's steps hang until they are ended, so an engine that runs them is
    still running at the seeded moment: a signal or kill that never came is its failure."""
    first = obs.invocations[0] if obs.invocations else None
    return [Evidence(f"steps running when the {what} is due (they hang until ended, so a"
                     " run that keeps the contract is still running)",
                     f"the {what} never came: the run ended first, after"
                     f" {len(obs.starts())} probe start(s)",
                     first.describe() if first else "cell",
                     excerpt(first.log_after if first else b""))]


@check("procs.signal_exit", "process_groups", Severity.MAJOR)
def signal_exit(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """After SIGTERM/SIGINT the engine exits non-zero within the bound.

    TASK.md: §"Step semantics" (SIGTERM and SIGINT: exits non-zero within 5 s);
    §"Commands and exit codes" (after SIGTERM or SIGINT)."""
    inv = _signalled(obs)
    bound = float(params.get("within_s", 5.0))
    if inv is None or inv.fault_at is None:
        return _never_struck(obs, "signal")
    took = inv.ended - inv.fault_at
    if inv.returncode in (0, None) or took > bound:
        return [exit_evidence(inv, f"a non-zero exit within {bound:.0f} s of the signal",
                              f"{inv.describe()}; exited {took:.2f} s after the signal")]
    return []


@check("procs.signal_groups_ended", "process_groups", Severity.MAJOR)
def signal_groups_ended(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """After SIGTERM/SIGINT no process of any running attempt survives the engine.

    TASK.md: §"Step semantics" (SIGTERM and SIGINT: no process of any attempt alive)."""
    inv = _signalled(obs)
    if inv is None:
        return _never_struck(obs, "signal")
    named = named_processes(obs, inv.log_after)
    if not named:
        return [Evidence("running attempts the log names when the signal comes (the"
                         " scenario's premise: steps that hang until they are ended)",
                         "the log named none", inv.describe(), excerpt(inv.log_after))]
    left = sorted(set(obs.alive_after.get("after_signal", ())) & set(named))
    if left:
        who = ", ".join(f"{p} ({named[p].get('step')}, {named[p].get('kind')})" for p in left[:5])
        return [Evidence("no step process alive 0.5 s after the engine exited",
                         f"alive: {who}", f"after {inv.describe()}")]
    return []


@check("procs.orphans_ended_before_rerun", "crash_recovery", Severity.FATAL)
def orphans_ended_before_rerun(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """On resume, processes of attempts the log shows running end before any step re-runs.

    TASK.md: §"Crash recovery" step 8."""
    killed = _signalled(obs)
    if killed is None:
        return _never_struck(obs, "kill")
    named = named_processes(obs, killed.log_after)
    if not named:
        return [Evidence("attempts the log names (a STEP_STARTED with the attempt's pid or"
                         " pgid) after the kill, whose processes can be followed", "none",
                         killed.describe(), excerpt(killed.log_after))]
    orphans = set(obs.alive_after.get("after_kill", ())) & set(named)
    if not orphans:  # the kill came when none of them ran: nothing to end on resume
        raise NotExercised("no process of an attempt the log names was alive after the kill,"
                           " so there was no orphan for the resumed run to end",
                           killed.describe())
    # A probe of the killed run itself may record its start after the kill (its process
    # was made before it): only the resumed run's attempts are runs again.
    rerun = [r for r in obs.starts()
             if float(r["mono"]) > killed.ended and int(r["pid"]) not in named]
    if not rerun:
        return [Evidence("steps run again after the kill (the workflow must finish)",
                         "no step started after it", "audit", excerpt(obs.final_log))]
    out = []
    for rec in rerun:
        still = sorted(orphans & set(rec.get("alive_prior", [])))
        if still:
            out.append(Evidence("every orphan of the killed run ended before a step"
                                " runs again", f"{rec['step']} run {rec['run']} started"
                                f" while orphans {still} were alive", "audit",
                                excerpt(killed.log_after)))
    return out[:5]


@check("procs.none_survive", "process_groups", Severity.MAJOR)
def none_survive(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """When the workflow is over, no process of any attempt the log names is alive.

    TASK.md: §"Step semantics" (Process groups and timeouts; SIGTERM and SIGINT);
    §"Crash recovery" step 8."""
    named = named_processes(obs, obs.final_log)
    if not named:
        return steps_ran(obs) or [Evidence(
            "attempts the log names (a STEP_STARTED with the attempt's pid or pgid), whose"
            " processes can be followed", "the log names none of the steps that ran",
            "audit vs STATE_DIR/events.jsonl", excerpt(obs.final_log))]
    left = sorted(set(obs.alive_after.get("end", ())) & set(named))
    if left:
        who = ", ".join(f"{p} ({named[p].get('step')}, {named[p].get('kind')})" for p in left[:5])
        return [Evidence("no step process alive after the last run", f"alive: {who}",
                         "after the last run", excerpt(obs.final_log))]
    return []
