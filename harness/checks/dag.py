"""Checks on scheduling, from the probes' audit: order, parallelism, one run per step.

Intervals are the probes' own start and end records. A probe's interval lies inside
the engine's view of the attempt (spawn to reap), so an overlap or an ordering
violation seen here is one the engine really allowed. Each scenario that applies these
runs a valid workflow, which the contract has run to the end: an order or a bound that
no step run ever tested is a failure, never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import (
    events,
    excerpt,
    exit_evidence,
    of_kind,
    steps_all_succeeded,
    steps_ran,
)
from harness.model import Evidence, Severity
from harness.observe import Observation


def _invocation(obs: Observation, label: str) -> Any:
    return next((i for i in obs.invocations if i.label == label), None)


@check("dag.exit_zero", "dependency_order", Severity.FATAL)
def exit_zero(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """The uninterrupted run of a valid workflow runs every step to success (per the
    audit), writes WORKFLOW_SUCCEEDED last and exits 0.

    TASK.md: §"Step semantics" (Scheduling: WORKFLOW_SUCCEEDED, exit 0);
    §"Commands and exit codes" (exit 0)."""
    inv = _invocation(obs, str(params.get("run", "run 1")))
    if inv is None:
        return [Evidence("a run", "none", "cell")]
    if inv.returncode != 0:
        return [exit_evidence(inv, "exit 0")]
    out = steps_all_succeeded(obs)
    evs = events(inv.log_after)
    if not evs or not of_kind(evs[-1:], "WORKFLOW_SUCCEEDED"):  # misnamed: log.schema's
        out.append(Evidence("the log ends in WORKFLOW_SUCCEEDED",
                            f"it ends in {evs[-1].get('type') if evs else 'nothing'}",
                            f"STATE_DIR/events.jsonl after {inv.describe()}",
                            excerpt(inv.log_after)))
    return out


def intervals(obs: Observation) -> list[tuple[float, float, str, int]]:
    """(start, end, step, pid) per probe run; a run with no end record ends when it died."""
    ends = {r["pid"]: r["mono"] for r in obs.ends()}
    out = []
    for r in obs.starts():
        end = ends.get(r["pid"], obs.deaths.get(r["pid"], float("inf")))
        out.append((float(r["mono"]), float(end), str(r["step"]), int(r["pid"])))
    return out


def max_overlap(spans: list[tuple[float, float, str, int]]) -> tuple[int, float, list[str]]:
    """The most runs alive at once, when, and which steps they were."""
    best: tuple[int, float, list[str]] = (0, 0.0, [])
    for start, _, _, _ in spans:
        live = [s for (a, b, s, _) in spans if a <= start < b]
        if len(live) > best[0]:
            best = (len(live), start, live)
    return best


@check("dag.dependency_order", "dependency_order", Severity.FATAL)
def dependency_order(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A step starts only after every step it depends on has succeeded.

    TASK.md: §"Step semantics" (Scheduling: a step is ready when its depends_on have
    succeeded); §"What to deliver" (the dependency_order capability)."""
    deps = {s["id"]: s.get("depends_on", []) for s in obs.workflow["steps"]}
    if not any(deps.get(r["step"]) for r in obs.starts()):
        return steps_ran(obs) or [Evidence(
            "a step that depends on others starts (the workflow runs to its end)",
            "none did: the order was never tested; ran only "
            + ", ".join(sorted({str(r["step"]) for r in obs.starts()})), "audit")]
    done: dict[str, float] = {}
    for r in obs.ends():
        if r.get("exit") == 0:
            done.setdefault(r["step"], float(r["mono"]))
    out = []
    for r in obs.starts():
        for dep in deps.get(r["step"], []):
            if done.get(dep, float("inf")) > float(r["mono"]):
                when = (f"{done[dep] - float(r['mono']):.3f} s later" if dep in done
                        else "never")
                out.append(Evidence(f"{r['step']} starts after {dep} succeeded",
                                    f"{r['step']} started (pid {r['pid']}) while {dep} had not"
                                    f" succeeded; {dep} succeeded {when}", "audit"))
    return out[:5]


@check("dag.parallel_bound", "parallelism", Severity.MAJOR)
def parallel_bound(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Never more than max_parallel steps run at once.

    TASK.md: §"Step semantics" (Scheduling: at most max_parallel attempts run at once)."""
    limit = int(obs.workflow.get("max_parallel", 4))
    runs = intervals(obs)
    if len(runs) <= limit:  # the workflow is wider: all its steps running would test it
        return steps_ran(obs) or [Evidence(
            f"more than max_parallel={limit} step runs, so the bound is tested (the workflow"
            f" has {len(obs.workflow['steps'])} steps)", f"only {len(runs)} ran", "audit")]
    n, at, steps = max_overlap(runs)
    if n > limit:
        return [Evidence(f"at most max_parallel={limit} steps at once",
                         f"{n} at once: {', '.join(sorted(steps))}", f"audit, t={at:.3f}")]
    return []


@check("dag.parallel_reached", "parallelism", Severity.MINOR)
def parallel_reached(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """With more ready steps than max_parallel, max_parallel of them run at once.

    TASK.md: §"Step semantics" (Scheduling: max_parallel attempts do run together whenever
    enough steps are ready)."""
    limit = int(obs.workflow.get("max_parallel", 4))
    n, _, steps = max_overlap(intervals(obs))
    if n < limit:
        return [Evidence(f"{limit} steps at once at some moment (the DAG is wider)",
                         f"at most {n} at once", "audit")]
    return []


@check("dag.ran_once", "dependency_order", Severity.MAJOR)
def ran_once(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """In an uninterrupted run every step runs exactly once.

    TASK.md: §"Step semantics" (Scheduling; Retries and backoff: only a failed attempt is
    retried); §"The event log" (No re-run of a success). Implied, not stated: no sentence
    says "exactly once"."""
    out = []
    for step in (s["id"] for s in obs.workflow["steps"]):
        n = len(obs.starts(step))
        if n != 1:
            out.append(Evidence(f"{step} runs exactly once", f"{n} runs", "audit"))
    return out
