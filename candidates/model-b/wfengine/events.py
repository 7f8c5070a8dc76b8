"""Event types and their serialization.

Every event is a plain dict on disk with `seq`, `type` and `ts`; `Event` is its in-memory
form. `to_dict` and `from_dict` are exact inverses, so the log round-trips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict

WORKFLOW_STARTED = "WORKFLOW_STARTED"
WORKFLOW_RESUMED = "WORKFLOW_RESUMED"
STEP_STARTED = "STEP_STARTED"
STEP_SUCCEEDED = "STEP_SUCCEEDED"
STEP_FAILED = "STEP_FAILED"
STEP_RETRY_SCHEDULED = "STEP_RETRY_SCHEDULED"
WORKFLOW_SUCCEEDED = "WORKFLOW_SUCCEEDED"
WORKFLOW_FAILED = "WORKFLOW_FAILED"

EVENT_TYPES = {
    WORKFLOW_STARTED, WORKFLOW_RESUMED, STEP_STARTED, STEP_SUCCEEDED, STEP_FAILED,
    STEP_RETRY_SCHEDULED, WORKFLOW_SUCCEEDED, WORKFLOW_FAILED,
}
TERMINAL_TYPES = {WORKFLOW_SUCCEEDED, WORKFLOW_FAILED}


class EventError(ValueError):
    """An event that cannot be decoded."""


@dataclass
class Event:
    type: str
    seq: int = 0
    ts: float = field(default_factory=time.time)
    data: Dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> str | None:
        return self.data.get("step")

    @property
    def attempt(self) -> int | None:
        return self.data.get("attempt")

    def to_dict(self) -> Dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "ts": self.ts, **self.data}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Event":
        if not isinstance(d, dict):
            raise EventError("event is not a JSON object")
        etype = d.get("type")
        if etype not in EVENT_TYPES:
            raise EventError(f"unknown event type {etype!r}")
        seq, ts = d.get("seq"), d.get("ts")
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise EventError("missing or invalid 'seq'")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise EventError("missing or invalid 'ts'")
        data = {k: v for k, v in d.items() if k not in ("seq", "type", "ts")}
        return cls(type=etype, seq=seq, ts=float(ts), data=data)
