"""Checks on the single-writer lock, with the first engine frozen by SIGSTOP.

Freezing the first engine makes the log's bytes still while the second engine runs,
so "changes nothing" is judged byte for byte, with no race against the first writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import excerpt, exit_evidence, fault_missed, steps_all_succeeded
from harness.model import Evidence, Severity
from harness.observe import Observation


def _second(obs: Observation) -> Any:
    return next((i for i in obs.invocations if "concurrent" in i.label), None)


def _no_contention(obs: Observation) -> list[Evidence]:
    """The first engine was never frozen with a second on its STATE_DIR: it ended first.
    Its first step sleeps 2 s, so one that runs the workflow is still alive then."""
    return fault_missed(obs, "the first run ended before a second could contend with it",
                        "run 1")


@check("lock.second_run_refused", "single_writer_lock", Severity.MAJOR)
def second_run_refused(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A second run on a STATE_DIR whose engine is alive exits 4 within 2 s.

    TASK.md: §"Commands and exit codes" (exit 4, within 2 s); §"The event log" (One writer)."""
    inv = _second(obs)
    if inv is None:
        return _no_contention(obs)
    bound = float(params.get("within_s", 2.0))
    if inv.returncode != 4 or inv.duration > bound:
        return [exit_evidence(inv, f"exit 4 within {bound:.0f} s",
                              f"{inv.describe()} after {inv.duration:.2f} s")]
    return []


@check("lock.second_run_changes_nothing", "single_writer_lock", Severity.MAJOR)
def second_run_changes_nothing(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """The refused second run changes no byte of the log and runs no step.

    TASK.md: §"Commands and exit codes" (exit 4: changing nothing and running nothing)."""
    inv = _second(obs)
    if inv is None:
        return _no_contention(obs)
    problems = []
    if obs.facts.get("log_before") != obs.facts.get("log_after"):
        problems.append("the log changed")
    if obs.facts.get("new_audit"):
        problems.append(f"{len(obs.facts['new_audit'])} step(s) started")
    if problems:
        return [Evidence("nothing changed", "; ".join(problems), inv.describe(),
                         "before:\n" + excerpt(obs.facts.get("log_before")) + "\nafter:\n"
                         + excerpt(obs.facts.get("log_after")))]
    return []


@check("lock.first_run_completes", "single_writer_lock", Severity.MINOR)
def first_run_completes(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """The first engine, resumed with SIGCONT, still finishes: exit 0, every step run to
    success (per the audit).

    TASK.md: §"The event log" (One writer); §"Step semantics" (Scheduling:
    WORKFLOW_SUCCEEDED, exit 0). Implied, not stated: that a refused second run, or SIGSTOP
    and SIGCONT, leave the first run to finish."""
    first = obs.runs("run 1")
    if not first or first[0].returncode != 0:
        return [exit_evidence(first[0], "exit 0")] if first else [Evidence("run 1", "none", "")]
    if _second(obs) is None:
        return _no_contention(obs)
    return steps_all_succeeded(obs)
