"""Checks on refusals of bad input: malformed workflows and a changed workflow on resume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import excerpt, exit_evidence, stderr_text, text
from harness.eventlog import parse_log
from harness.model import Evidence, Severity
from harness.observe import Observation


def _cases(obs: Observation) -> list[Any]:
    return [v for v in obs.variants if not v.facts.get("status_case")]


@check("inputs.invalid_rejected", "input_validation", Severity.MAJOR)
def invalid_rejected(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Each malformed workflow: exit 2 with a message on stderr.

    TASK.md: §"Workflow file" (each of the following is invalid); §"Commands and exit codes"
    (exit 2; an invalid workflow is reported on stderr)."""
    out = []
    for v in _cases(obs):
        inv = v.invocations[0]
        if inv.returncode != 2 or not inv.stderr.strip():
            out.append(Evidence("exit 2 and a message on stderr",
                                f"exit {inv.returncode}; stderr: {stderr_text(inv) or '(empty)'}",
                                f"invalid workflow '{v.label}': {text(str(v.facts['text']).encode(), 160)}"))
    return out or ([] if _cases(obs) else [Evidence("malformed workflows", "none", "scenario")])


@check("inputs.invalid_leaves_no_state", "input_validation", Severity.MAJOR)
def invalid_leaves_no_state(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A malformed workflow does not create STATE_DIR.

    TASK.md: §"Workflow file" (does not create STATE_DIR); §"Crash recovery" step 1."""
    return [Evidence("STATE_DIR not created", "it was created",
                     f"invalid workflow '{v.label}'") for v in _cases(obs)
            if v.facts["state_exists"]]


@check("inputs.status_without_log", "replay_status", Severity.MINOR)
def status_without_log(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """status of a STATE_DIR that holds no log exits 2.

    TASK.md: §"Commands and exit codes" (status exit 2: STATE_DIR holds no events.jsonl)."""
    return [exit_evidence(v.invocations[0], "exit 2", v.label) for v in obs.variants
            if v.facts.get("status_case") and v.invocations[0].returncode != 2]


@check("inputs.changed_workflow_refused", "input_validation", Severity.MAJOR)
def changed_workflow_refused(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Resuming with a different workflow file: exit 2, the log unchanged, no step run.

    TASK.md: §"Crash recovery" step 4; §"Commands and exit codes" (exit 2)."""
    inv = next((i for i in obs.invocations if "changed workflow" in i.label), None)
    if inv is None:
        return [Evidence("a resume with a changed workflow", "none", "cell")]
    if not parse_log(inv.log_before or b"").lines or not obs.facts.get("base_starts", 1):
        # Without a log there is no digest to differ from, and a fresh start is right;
        # the crashed first run of a valid workflow must have run steps and logged them.
        first = obs.invocations[0]
        return [Evidence("a log of a crashed run, its steps run, to resume with a changed"
                         " workflow", f"{len(parse_log(inv.log_before or b'').lines)} complete"
                         f" log lines and {obs.facts.get('base_starts', 0)} probe start(s)"
                         " after run 1", first.describe(), excerpt(first.log_after))]
    problems = []
    if inv.returncode != 2:
        problems.append(f"exit {inv.returncode}")
    if inv.log_after != inv.log_before:
        problems.append("the log changed")
    if obs.facts.get("new_audit"):
        problems.append(f"{len(obs.facts['new_audit'])} step(s) ran")
    if problems:
        return [Evidence("exit 2, log byte for byte unchanged, no step run", "; ".join(problems),
                         inv.describe(), "before:\n" + excerpt(inv.log_before) + "\nafter:\n"
                         + excerpt(inv.log_after))]
    return []
