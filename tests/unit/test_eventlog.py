"""Property tests for the harness's log reader: any truncation, any corruption."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from harness.eventlog import complete_prefix, event_problems, parse_log, running_attempts, seq_problems

TYPES = ["WORKFLOW_RESUMED", "STEP_SUCCEEDED", "WORKFLOW_SUCCEEDED"]


def make_log(n: int) -> bytes:
    lines = [{"seq": 1, "type": "WORKFLOW_STARTED", "ts": 1.5, "workflow": "w", "digest": "a" * 64}]
    for i in range(2, n + 2):
        lines.append({"seq": i, "type": "STEP_SUCCEEDED", "ts": 2.0 + i, "step": "s", "attempt": 1,
                      "note": "é" * (i % 3)})
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in lines)


@given(st.integers(0, 12), st.data())
def test_truncation_at_any_byte_keeps_every_complete_line(n: int, data: st.DataObject) -> None:
    log = make_log(n)
    cut = data.draw(st.integers(0, len(log)))
    parsed = parse_log(log[:cut])
    complete = complete_prefix(log[:cut])
    assert not parsed.damaged
    assert [ln.raw + b"\n" for ln in parsed.lines] == complete.splitlines(keepends=True)
    assert parsed.torn == log[len(complete):cut]
    assert seq_problems(parsed.events) == []


@given(st.integers(2, 10), st.data())
def test_a_broken_middle_line_is_damage_and_a_broken_last_line_is_torn(
        n: int, data: st.DataObject) -> None:
    lines = make_log(n).split(b"\n")[:-1]
    i = data.draw(st.integers(0, len(lines) - 1))
    lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i]) - 1))]
    parsed = parse_log(b"\n".join(lines) + b"\n")
    if i == len(lines) - 1:
        assert not parsed.damaged and parsed.torn == lines[i]
    else:
        assert [d.number for d in parsed.damaged] == [i + 1]


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_log(raw)
    for line in parsed.lines:
        event_problems(line.event or {})
    seq_problems(parsed.events)


def test_valid_json_without_newline_is_torn() -> None:
    log = make_log(2)
    parsed = parse_log(log[:-1])
    assert parsed.torn == log[:-1].split(b"\n")[-1]
    assert len(parsed.lines) == 2


def test_event_problems_name_the_missing_field() -> None:
    assert event_problems({"seq": 1, "type": "STEP_STARTED", "ts": 1.0, "step": "a",
                           "attempt": 1, "pid": 3}) == ["STEP_STARTED lacks 'pgid'",
                                                        "pid/pgid are not integers"]
    assert event_problems({"seq": 1, "type": "WORKFLOWSTARTED", "ts": 1.0}) == [
        "unknown type 'WORKFLOWSTARTED'"]
    assert seq_problems([{"seq": 1}, {"seq": 1}]) == ["event #2 has seq 1, expected 2"]


def test_running_attempts_reads_types_loosely_and_only_complete_integer_attempts() -> None:
    log = b"".join(json.dumps(e).encode() + b"\n" for e in [
        {"seq": 1, "type": "STEP_STARTED", "step": "a", "attempt": 1},
        {"seq": 2, "type": "StepStarted", "step": "b", "attempt": 1},
        {"seq": 3, "type": "STEP_STARTED", "step": "c", "attempt": "1"},
        {"seq": 4, "type": "STEP_FAILED", "step": "a", "attempt": 1},
        {"seq": 5, "type": "STEP_STARTED", "step": "a", "attempt": 2},
    ]) + b'{"seq": 6, "type": "STEP_SUCCEEDED", "step": "a", "attempt": 2'  # torn: not yet
    assert running_attempts(log) == {("a", 2), ("b", 1)}
    assert running_attempts(log + b"}\n") == {("b", 1)}
    assert running_attempts(None) == set() == running_attempts(b"")
