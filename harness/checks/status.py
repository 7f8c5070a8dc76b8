"""Checks on `status`: its JSON agrees with the log and the audit, and it writes nothing.

`expected_status` is the contract's status, derived from the log's events alone (with
the v1.1 clarifications). A candidate's status must equal it; where the scenario ran
without crashes, each step's attempts must also equal the runs the probes recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.checks import check
from harness.checks.common import cut_note, events, excerpt, stderr_text, steps_ran, text
from harness.model import Evidence, Severity
from harness.observe import Invocation, Observation

STEP_STATE = {"STEP_STARTED": "running", "STEP_SUCCEEDED": "succeeded",
              "STEP_RETRY_SCHEDULED": "retry_wait"}


def expected_status(evs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    steps: dict[str, dict[str, Any]] = {}
    for e in evs:
        step = e.get("step")
        if not isinstance(step, str):
            continue
        entry = steps.setdefault(step, {"state": "pending", "attempts": 0})
        kind = e.get("type")
        if kind == "STEP_STARTED":
            entry["attempts"] += 1
        if kind == "STEP_FAILED":
            entry["state"] = "pending" if e.get("reason") == "lost" else "failed"
        elif kind in STEP_STATE:
            entry["state"] = STEP_STATE[str(kind)]
    last = evs[-1].get("type") if evs else None
    workflow = {"WORKFLOW_SUCCEEDED": "succeeded", "WORKFLOW_FAILED": "failed"}.get(
        str(last), "running" if evs else "pending")
    return {"workflow": workflow, "last_seq": evs[-1].get("seq") if evs else 0, "steps": steps}


def parse_status(inv: Invocation) -> tuple[dict[str, Any] | None, str]:
    try:
        doc = json.loads(inv.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        cut = f" ({cut_note(inv)})" if inv.stdout_cut else ""
        return None, f"stdout is not one JSON object ({exc}): {text(inv.stdout, 200)!r}{cut}"
    if not isinstance(doc, dict):
        return None, f"stdout is JSON but not an object: {text(inv.stdout, 200)!r}"
    return doc, ""


def status_differences(inv: Invocation, log: bytes) -> list[str]:
    """How a status invocation's answer differs from the contract's status of `log`."""
    if inv.returncode != 0:
        return [f"exit {inv.returncode} (stderr: {stderr_text(inv) or 'empty'})"]
    doc, problem = parse_status(inv)
    if doc is None:
        return [problem]
    want = expected_status(events(log))
    diffs = [f"{k}: expected {want[k]!r}, got {doc.get(k)!r}"
             for k in ("workflow", "last_seq") if doc.get(k) != want[k]]
    raw_steps = doc.get("steps")
    got_steps: dict[str, Any] = raw_steps if isinstance(raw_steps, dict) else {}
    for step in sorted(set(want["steps"]) | set(got_steps)):
        w, g = want["steps"].get(step), got_steps.get(step)
        if w != g:
            diffs.append(f"steps.{step}: expected {w!r}, got {g!r}")
    return diffs


@check("status.matches", "replay_status", Severity.MAJOR)
def matches(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """status prints the state the log implies, and attempts equal the probes' runs.

    TASK.md: §"Status output"; §"Choices where the contract is silent" (Judging: `status` is
    compared with the ground truth)."""
    inv = next((i for i in reversed(obs.invocations) if i.label == "status"), None)
    if inv is None:
        return [Evidence("a status invocation", "none", "cell")]
    diffs = status_differences(inv, obs.final_log)
    if not diffs and params.get("audit_exact", False):
        doc, _ = parse_status(inv)
        for step, entry in (doc or {}).get("steps", {}).items():
            runs = len(obs.starts(step))
            if entry.get("attempts") != runs:
                diffs.append(f"steps.{step}.attempts: the probes recorded {runs} runs,"
                             f" status says {entry.get('attempts')}")
    if diffs:  # a status that failed outright failed reading: show the log from its start
        at = 1 if inv.returncode != 0 else None
        return [Evidence("status equal to the state the log implies", "; ".join(diffs[:4]),
                         inv.describe(), excerpt(obs.final_log, at))]
    return steps_ran(obs)  # a status of a run that ran nothing has no state to rebuild


@check("status.read_only", "replay_status", Severity.MAJOR)
def read_only(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """status changes no byte of the log.

    TASK.md: §"Commands and exit codes" (`status` changes no file)."""
    invs = [i for i in obs.invocations if i.label.startswith("status")]
    invs += [i for v in obs.variants for i in v.invocations if i.label.startswith("status")]
    if not any(i.log_before for i in invs):
        return [Evidence("status run over a log (the run before it keeps one)",
                         "there was no log to read", invs[0].describe() if invs else "cell")]
    for inv in invs:
        if inv.log_before != inv.log_after:
            return [Evidence("the log byte for byte as before", "status changed it",
                             inv.describe(), "before:\n" + excerpt(inv.log_before) +
                             "\nafter:\n" + excerpt(inv.log_after))]
    return steps_ran(obs) if not obs.variants else []
