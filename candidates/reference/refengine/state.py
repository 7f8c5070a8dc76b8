"""Pure replay: from the log's events to each step's state, and the status document.

Properties kept on purpose:
- Nothing here touches the disk, the clock or a process: the same events always give
  the same state, so `status` and a resuming `run` can never disagree about the past.
- A step's state follows its last event (STEP_STARTED running, STEP_SUCCEEDED
  succeeded, STEP_RETRY_SCHEDULED retry_wait, a lost STEP_FAILED pending, any other
  STEP_FAILED failed). Lost attempts use up their number but never count as failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WORKFLOW_END = {"WORKFLOW_SUCCEEDED": "succeeded", "WORKFLOW_FAILED": "failed"}
STEP_EVENTS = ("STEP_STARTED", "STEP_SUCCEEDED", "STEP_FAILED", "STEP_RETRY_SCHEDULED")


@dataclass
class StepState:
    state: str = "pending"  # pending | running | retry_wait | succeeded | failed
    attempts: int = 0  # the highest attempt number used: the next one is attempts + 1
    started: int = 0  # STEP_STARTED events, lost attempts included (status's "attempts")
    failures: int = 0  # failed attempts that count toward max_attempts (not lost ones)
    succeeded_attempt: int | None = None
    running: dict[int, tuple[int, int]] = field(default_factory=dict)  # attempt -> pid, pgid
    retry_due_ts: float | None = None  # wall clock when the scheduled retry is due


def _apply(s: StepState, e: dict[str, Any]) -> None:
    kind, attempt = e["type"], e["attempt"]
    if kind == "STEP_STARTED":
        s.state, s.attempts, s.started = "running", max(s.attempts, attempt), s.started + 1
        s.running[attempt] = (e["pid"], e["pgid"])
    elif kind == "STEP_SUCCEEDED":
        s.state, s.succeeded_attempt = "succeeded", attempt
        s.running.pop(attempt, None)
    elif kind == "STEP_FAILED":
        s.running.pop(attempt, None)
        if e["reason"] == "lost":
            s.state = "pending"  # the engine died, not the step: it will simply run again
        else:
            s.state, s.failures = "failed", s.failures + 1
    elif kind == "STEP_RETRY_SCHEDULED":
        s.state, s.retry_due_ts = "retry_wait", e["ts"] + e["delay_s"]


def replay(events: list[dict[str, Any]]) -> dict[str, StepState]:
    """Each step the log mentions, in order of first mention, with its replayed state."""
    steps: dict[str, StepState] = {}
    for e in events:
        if e["type"] in STEP_EVENTS:  # by type: extra fields on other events mean nothing
            _apply(steps.setdefault(e["step"], StepState()), e)
    return steps


def status_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The `status` JSON: the contract's document, rebuilt from the events alone."""
    # "pending" only for a log with no complete event; "running" for any unfinished one
    workflow = WORKFLOW_END.get(events[-1]["type"], "running") if events else "pending"
    steps = {sid: {"state": s.state, "attempts": s.started} for sid, s in replay(events).items()}
    return {"workflow": workflow, "last_seq": events[-1]["seq"] if events else 0, "steps": steps}
