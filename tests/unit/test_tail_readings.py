"""TASK.md v1.2, points 7-12, where a check's own logic decides which readings it accepts
without a run (the runs are in tests/integration/test_allowed_readings.py)."""

from __future__ import annotations

import json

from harness.checks.tail import resumed_problems


def _log(*types: str) -> bytes:
    return b"".join(json.dumps({"seq": i, "type": t, "ts": 1.0}).encode() + b"\n"
                    for i, t in enumerate(types, start=1))


FINISHED = _log("WORKFLOW_STARTED", "WORKFLOW_SUCCEEDED")
TORN = b'{"seq":3,"ty'


def test_a_torn_line_after_the_end_event_may_be_cut_or_left() -> None:
    """(12) Crash recovery step 5: both readings pass."""
    assert resumed_problems(FINISHED, FINISHED, "lost", "torn") == []
    assert resumed_problems(FINISHED + TORN, FINISHED, "lost", "torn") == []


def test_a_torn_line_left_on_an_unfinished_log_is_a_problem() -> None:
    """(12) Step 6 still applies to a log that is not finished: the torn line is cut."""
    kept = _log("WORKFLOW_STARTED")
    done = kept + TORN + b"\n" + _log("WORKFLOW_RESUMED", "WORKFLOW_SUCCEEDED")
    assert "torn" in resumed_problems(done, kept, "lost", "torn")
    assert "torn" in resumed_problems(kept + TORN, kept, "lost", "torn")


def test_an_event_written_after_the_end_is_still_a_problem() -> None:
    """(12) A finished log gets no event: a torn line left is fine, anything added is not."""
    more = FINISHED + json.dumps({"seq": 3, "type": "WORKFLOW_RESUMED", "ts": 1.0}).encode()
    assert resumed_problems(more + b"\n", FINISHED, "lost", "torn")
