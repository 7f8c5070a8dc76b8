"""Pure replay: from the log's events to each step's state, and the status document.

Properties kept on purpose:
- Nothing here touches the disk, the clock or a process: the same events always give
  the same state, so `status` and a resuming `run` can never disagree about the past.
- A step's state follows its last event (STEP_STARTED running, STEP_SUCCEEDED
  succeeded, STEP_RETRY_SCHEDULED retry_wait, a lost STEP_FAILED pending, any other
  STEP_FAILED failed). Lost attempts use up their number but never count as failures.
- `status_fold` folds the same rules a column at a time (no StepState per step), so
  `status` of a million events stays fast; it and `replay` agree on every log
  (tests/unit/test_refengine_status.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import eq
from typing import Any

WORKFLOW_END = {"WORKFLOW_SUCCEEDED": "succeeded", "WORKFLOW_FAILED": "failed"}
STEP_EVENTS = ("STEP_STARTED", "STEP_SUCCEEDED", "STEP_FAILED", "STEP_RETRY_SCHEDULED")
# A step's state after its last event; STEP_FAILED's depends on the reason (_failed_state).
STATE_AFTER = {"STEP_STARTED": "running", "STEP_SUCCEEDED": "succeeded",
               "STEP_RETRY_SCHEDULED": "retry_wait"}
_IS_STEP_EVENT = frozenset(STEP_EVENTS).__contains__


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
    get = dict.get
    return status_fold([e["type"] for e in events], list(map(get, events, repeat("step"))),
                       list(map(get, events, repeat("reason"))), events[-1]["seq"] if events else 0)


def status_fold(kinds: list[str], ids: list[Any], reasons: list[Any], last_seq: int) -> dict[str, Any]:
    """The `status` JSON from the log's columns: each event's type, step and reason (any
    value where the type has no such field). Each step's state is `replay`'s, the state
    after its last event, and its attempts its STEP_STARTED events."""
    # "pending" only for a log with no complete event; "running" for any unfinished one
    workflow = WORKFLOW_END.get(kinds[-1], "running") if kinds else "pending"
    states = list(map(STATE_AFTER.get, kinds))  # None for STEP_FAILED (set just below)
    for i in compress(range(len(kinds)), map(eq, kinds, repeat("STEP_FAILED"))):
        states[i] = "pending" if reasons[i] == "lost" else "failed"
    is_step = map(_IS_STEP_EVENT, kinds)  # by type, as replay does: other events' fields
    last = dict(compress(zip(ids, states), is_step))  # first mention's order, last state
    started = Counter(compress(ids, map(eq, kinds, repeat("STEP_STARTED"))))
    steps = {sid: {"state": st, "attempts": started[sid]} for sid, st in last.items()}
    return {"workflow": workflow, "last_seq": last_seq, "steps": steps}
