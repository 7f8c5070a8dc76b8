"""Checks on retries and backoff, from the probes' own clocks.

A failed run's `end` record is written before the probe exits, so the engine can only
have seen the failure after it; the next run's `start` record is written after the
engine spawned it. So `next.start - prev.end >= delay` is a sound test that no retry
started early. Progress during backoff is judged by counting other steps that
started inside the window, which closes when the retry's process was made: a scheduler
that sleeps through the backoff starts at most one (spawned just before it fell asleep;
what it starts on waking, beside the retry, records its start after the retry was made).

The scenarios' failing steps fail by design and have retries left, so the contract has
them retried: a retry or a backoff that never happened fails these checks.

TASK.md (v1.2) lets the delay start at the leader's exit, when the engine saw it, or at
STEP_RETRY_SCHEDULED's ts, and makes ending the rest of the failed attempt's group part
of that attempt. So "not early" counts from the leader's exit (no reading starts
sooner), and "not late" from the moment the last process of the failed run's group
was gone (as seen by the harness, never the engine's word).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import events, excerpt, exit_evidence
from harness.model import Evidence, Severity
from harness.observe import Observation

LATE_S = 1.0


def _policy(obs: Observation, step: str) -> Mapping[str, float]:
    conf = next(s for s in obs.workflow["steps"] if s["id"] == step).get("retry", {})
    return {"backoff_s": conf.get("backoff_s", 0), "multiplier": conf.get("multiplier", 2),
            "max_backoff_s": conf.get("max_backoff_s", 60)}


def made(rec: Mapping[str, Any]) -> float:
    """When the probe's process was made (fork), on the monotonic clock of its records.

    Its start record is written only once Python has started, which a loaded machine
    delays by up to seconds; the kernel's start time of the process is not. The probe
    reads the boot-time and monotonic clocks together, so the start time (ticks since
    boot) converts exactly; records without them (older probes) give the record's time."""
    try:
        since = float(rec["boot"]) - int(rec["starttime"]) / int(rec["clk_tck"])
        return min(float(rec["mono"]), float(rec["mono"]) - since)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return float(rec["mono"])


def windows(obs: Observation, step: str) -> list[tuple[int, float, float, float]]:
    """(n, end of failed run n, start of run n+1, the contract's delay after failure n)."""
    p = _policy(obs, step)
    ends = {r["run"]: float(r["mono"]) for r in obs.ends(step) if r.get("exit") != 0}
    starts = {r["run"]: float(r["mono"]) for r in obs.starts(step)}
    out = []
    for n in sorted(ends):
        if n + 1 in starts:
            delay = min(p["backoff_s"] * p["multiplier"] ** (n - 1), p["max_backoff_s"])
            out.append((n, ends[n], starts[n + 1], delay))
    return out


@check("retry.attempt_counts", "retries", Severity.MAJOR)
def attempt_counts(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Each step runs exactly as often as its failures and max_attempts imply.

    TASK.md: §"Step semantics" (Retries and backoff: fails for good when failed attempts
    reach max_attempts)."""
    out = []
    runs = dict(params.get("runs", {}))
    for step in (s["id"] for s in obs.workflow["steps"]):
        want = runs.get(step, params.get("others"))
        if want is None:
            continue
        got = len(obs.starts(step))
        if got != want:
            out.append(Evidence(f"{step} runs {want} times", f"{got} times", "audit",
                                excerpt(obs.final_log)))
    return out


@check("retry.not_early", "retries", Severity.MAJOR)
def not_early(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """No retry starts before min(backoff_s * multiplier**(n-1), max_backoff_s) has passed.

    TASK.md: §"Step semantics" (Retries and backoff: no earlier than delay(n))."""
    step = str(params["step"])
    out = [Evidence(f"run {n + 1} of {step} at least {d:.2f} s after run {n} failed",
                    f"{s - e:.3f} s after", "audit")
           for n, e, s, d in windows(obs, step) if s - e < d]
    if not windows(obs, step):
        out.append(Evidence(f"{step} retried", "it never was", "audit"))
    return out


def group_gone(obs: Observation, step: str, run: int, end: float) -> float:
    """When the last process of a run's group was gone, as far as the harness saw: the
    latest death of the probe and its children (the end record's time if none is known).
    A member never seen to die does not move it: other checks judge survivors."""
    pids = [int(r["pid"]) for r in obs.starts(step) if r["run"] == run]
    pids += [int(r["pid"]) for r in obs.audit
             if r.get("kind") == "child" and r.get("parent") in pids]
    return max([end, *(obs.deaths[p] for p in pids if p in obs.deaths)])


@check("retry.not_late", "retries", Severity.MINOR)
def not_late(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """No retry's process is made more than 1 s after its backoff has passed, counted from
    when the failed run's whole group was gone (TASK.md v1.2: ending it belongs to the
    failed attempt); when the engine made it, not when Python got round to recording it:
    see `made`.

    TASK.md: §"Step semantics" (Retries and backoff: promptly once it is due, within 1 s)."""
    step = str(params["step"])
    if not windows(obs, step):
        return [Evidence(f"{step} retried after a failed run", "it never was", "audit",
                         excerpt(obs.final_log))]
    made_at = {r["run"]: made(r) for r in obs.starts(step)}
    out = []
    for n, e, _s, d in windows(obs, step):
        gone = group_gone(obs, step, n, e)
        if made_at[n + 1] - gone > d + LATE_S:
            since = "" if gone == e else f" ({gone - e:.3f} s after its leader's end record)"
            out.append(Evidence(f"run {n + 1} of {step} made within {d:.2f} + {LATE_S:.0f} s"
                                f" of the end of run {n}'s group{since}",
                                f"{made_at[n + 1] - gone:.3f} s after", "audit"))
    return out


@check("retry.progress_during_backoff", "nonblocking_backoff", Severity.MAJOR)
def progress_during_backoff(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """While a step waits out its backoff, other ready steps keep starting.

    TASK.md: §"Step semantics" (Retries and backoff: a backoff must never stall the
    scheduler)."""
    step, need = str(params["step"]), int(params.get("min_starts", 2))
    wide = [w for w in windows(obs, step) if w[3] >= float(params.get("min_window_s", 1.0))]
    if not wide:
        return [Evidence(f"{step} waits out a backoff of at least"
                         f" {float(params.get('min_window_s', 1.0)):.1f} s before a retry",
                         "no such backoff: it was never retried after one", "audit",
                         excerpt(obs.final_log))]
    out = []
    made_at = {r["run"]: made(r) for r in obs.starts(step)}
    for n, end, start, delay in wide:
        # Closed when the retry's process was made: a scheduler that slept through the
        # backoff starts the retry and the next ready step together as it wakes, and that
        # step's start record (after Python's start-up) must not count as progress.
        start = made_at.get(n + 1, start)
        inside = [r for r in obs.starts() if r["step"] != step and end < float(r["mono"]) < start]
        if len(inside) < need:
            out.append(Evidence(f"at least {need} other steps start during the {delay:.1f} s"
                                f" backoff after {step} run {n}",
                                f"{len(inside)} started", f"audit, window {start - end:.2f} s"))
    return out


@check("retry.exhausted_fails", "retries", Severity.MAJOR)
def exhausted_fails(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A step that uses up its attempts: exit 1, WORKFLOW_FAILED, dependents never start,
    independent steps still run.

    TASK.md: §"Step semantics" (Scheduling: a step whose dependency failed for good never
    starts; WORKFLOW_FAILED, exit 1); §"Commands and exit codes" (exit 1)."""
    run = obs.runs("run")[0]
    out = []
    if run.returncode != 1:
        out.append(exit_evidence(run, "exit 1"))
    evs = events(obs.final_log)
    if not evs or evs[-1].get("type") != "WORKFLOW_FAILED":
        out.append(Evidence("the log ends in WORKFLOW_FAILED",
                            f"it ends in {evs[-1].get('type') if evs else 'nothing'}",
                            "STATE_DIR/events.jsonl", excerpt(obs.final_log)))
    for step in params.get("never", []):
        if obs.starts(step):
            out.append(Evidence(f"{step} never starts (a dependency failed for good)",
                                f"it ran {len(obs.starts(step))} time(s)", "audit"))
    for step in params.get("still_run", []):
        if not obs.starts(step):
            out.append(Evidence(f"{step} still runs (it does not depend on the failed step)",
                                "it never ran", "audit"))
    return out
