"""Pure replay: from the log's events to each step's state, and the status document.

Nothing here touches the disk or the clock except through its arguments, so `status`
and resume see exactly the same state for the same log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepState:
    state: str = "pending"  # pending | running | retry_wait | succeeded | failed
    attempts: int = 0  # STEP_STARTED events, lost ones included: the last number used
    failures: int = 0  # failed attempts that count toward max_attempts (not lost ones)
    succeeded_attempt: int | None = None
    running: dict[int, tuple[int, int]] = field(default_factory=dict)  # attempt -> pid, pgid
    retry_due_ts: float | None = None  # wall clock when the scheduled retry is due


def replay(events: list[dict[str, Any]]) -> dict[str, StepState]:
    steps: dict[str, StepState] = {}
    for e in events:
        if "step" not in e:
            continue
        s = steps.setdefault(e["step"], StepState())
        kind, attempt = e["type"], e.get("attempt")
        if kind == "STEP_STARTED":
            s.state, s.attempts = "running", max(s.attempts, attempt)
            s.running[attempt] = (e["pid"], e["pgid"])
        elif kind == "STEP_SUCCEEDED":
            s.state, s.succeeded_attempt = "succeeded", attempt
            s.running.pop(attempt, None)
        elif kind == "STEP_FAILED":
            s.running.pop(attempt, None)
            if e["reason"] == "lost":
                s.state = "pending"
            else:
                s.state, s.failures = "failed", s.failures + 1
        elif kind == "STEP_RETRY_SCHEDULED":
            s.state, s.retry_due_ts = "retry_wait", e["ts"] + e["delay_s"]
    return steps


def status_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    if not events:
        workflow = "pending"
    else:
        workflow = {"WORKFLOW_SUCCEEDED": "succeeded", "WORKFLOW_FAILED": "failed"}.get(
            events[-1]["type"], "running")
    started = {}
    for e in events:
        if e["type"] == "STEP_STARTED":
            started[e["step"]] = started.get(e["step"], 0) + 1
    steps = {sid: {"state": s.state, "attempts": started.get(sid, 0)}
             for sid, s in replay(events).items()}
    return {"workflow": workflow, "last_seq": events[-1]["seq"] if events else 0, "steps": steps}
