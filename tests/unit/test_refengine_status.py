"""The reference's fast reading paths decide exactly as its line-by-line rules do.

`eventlog.parse` first tries `_parse_fast`, and `status` first tries `status_columns` +
`state.status_fold`; both may only say "valid" on logs the rules (`_parse_lines`, with
`_decode` and `_validate`) accept, and must then give the same events and document. The
logs here are the reference's own form, then broken or varied in the ways that matter.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "candidates" / "reference"))
eventlog = importlib.import_module("refengine.eventlog")
state = importlib.import_module("refengine.state")


def dump(e: dict[str, Any]) -> bytes:
    return json.dumps(e, separators=(",", ":")).encode() + b"\n"


def good_events(steps: list[str], plan: list[int]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "WORKFLOW_STARTED", "ts": 1.5, "workflow": "w",
                                     "digest": "a" * 64}]
    for k, p in enumerate(plan):
        sid = steps[k % len(steps)]
        kind = ["STEP_STARTED", "STEP_SUCCEEDED", "STEP_FAILED", "STEP_RETRY_SCHEDULED",
                "WORKFLOW_RESUMED", "STEP_FAILED"][p % 6]
        e: dict[str, Any] = {"type": kind, "ts": 2.0 + k}
        if kind.startswith("STEP_"):
            e.update(step=sid, attempt=1 + p % 3)
        if kind == "STEP_STARTED":
            e.update(pid=100 + k, pgid=100 + k)
        if kind == "STEP_FAILED":
            e.update(reason=("lost", "exit", "timeout", "signal")[p % 4], exit_code=1)
        if kind == "STEP_RETRY_SCHEDULED":
            e.update(delay_s=0.5 * (p % 3))
        events.append(e)
    if plan and plan[-1] % 2:
        events.append({"type": "WORKFLOW_SUCCEEDED" if plan[0] % 2 else "WORKFLOW_FAILED", "ts": 9.0})
    return [{"seq": i, **e} for i, e in enumerate(events, start=1)]


# Single-line changes: each gives a line the rules may accept or refuse, in any position.
CHANGES: list[Any] = [
    lambda b: b"",
    lambda b: b" " + b,
    lambda b: b + b"\r",
    lambda b: b[:-1] + b',"x":[1]}',
    lambda b: b.replace(b'"seq":', b'"seq":1,"seq":', 1),
    lambda b: b.replace(b":1,", b":1.0,", 1),
    lambda b: b.replace(b":1,", b":true,", 1),
    lambda b: b.replace(b'"ts":', b'"ts":1e999,"t":', 1),
    lambda b: b.replace(b'"step":"', b'"step":"\\u00e9', 1),
    lambda b: b.replace(b'"step":"', b'"step":"\xc3\xa9', 1),
    lambda b: b.replace(b'"step":"', b'"step":"\xff', 1),
    lambda b: b"[1]",
    lambda b: b"{}",
    lambda b: b[: len(b) // 2],
    lambda b: b.replace(b'"lost"', b'"gone"'),
    lambda b: b.replace(b"STEP_", b"Step_"),
    lambda b: b.replace(b'"delay_s":', b'"delay_s":-', 1),
    lambda b: b.replace(b'"pid":', b'"pid":-', 1),
    lambda b: b.replace(b'"attempt":', b'"attempt":0', 1),
    lambda b: b.replace(b"WORKFLOW_STARTED", b"WORKFLOW_RESUMED"),
    lambda b: b.replace(b'"ts":', b'"ts":"', 1).replace(b',"', b'","', 1),
    lambda b: b'{"seq":1,' + b[1:],
    lambda b: b + b"\n" + b,
    lambda b: b.replace(b'"seq":', b'"seq":0', 1),
    lambda b: b'{"a":[' + b,
]


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except eventlog.LogDamaged:
        return "damaged"


def rules(raw: bytes) -> Any:
    contents = outcome(eventlog._parse_lines, raw)
    if contents == "damaged":
        return contents
    return contents.events, contents.good_len, contents.torn


def status_by_rules(raw: bytes) -> Any:
    contents = outcome(eventlog._parse_lines, raw)
    return contents if contents == "damaged" else replayed(contents.events)


def replayed(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The status document from `replay` (the run path's fold), as the contract says."""
    workflow = state.WORKFLOW_END.get(events[-1]["type"], "running") if events else "pending"
    return {"workflow": workflow, "last_seq": events[-1]["seq"] if events else 0,
            "steps": {sid: {"state": s.state, "attempts": s.started}
                      for sid, s in state.replay(events).items()}}


@settings(max_examples=600, deadline=None)
@given(steps=st.lists(st.sampled_from(["a", "b", "c d", ""]), min_size=1, max_size=3),
       plan=st.lists(st.integers(0, 1000), max_size=12),
       changes=st.lists(st.tuples(st.integers(0, 20), st.integers(0, len(CHANGES) - 1)), max_size=2),
       tail=st.sampled_from([b"", b'{"seq":', b"\xff", b"[1]"]))
def test_fast_paths_decide_as_the_rules(steps: list[str], plan: list[int],
                                        changes: list[tuple[int, int]], tail: bytes) -> None:
    lines = [dump(e)[:-1] for e in good_events(steps, plan)]
    for where, which in changes:
        lines[where % len(lines)] = CHANGES[which](lines[where % len(lines)])
    raw = b"".join(ln + b"\n" for ln in lines) + tail
    expected = rules(raw)
    got = outcome(eventlog.parse, raw)
    assert (got if got == "damaged" else (got.events, got.good_len, got.torn)) == expected
    columns = eventlog.status_columns(raw)
    if columns is not None:  # only ever on logs the rules accept, with the same document
        assert status_by_rules(raw) == state.status_fold(*columns)
    if got != "damaged":
        assert state.status_document(got.events) == replayed(got.events)


@pytest.mark.parametrize("raw", [b"", b"\n", b'{"seq":1', b"[1]\n", b"x\n"])
def test_no_complete_event(raw: bytes) -> None:
    assert eventlog.status_columns(raw) is None
    got = outcome(eventlog.parse, raw)
    assert (got if got == "damaged" else (got.events, got.good_len, got.torn)) == rules(raw)


def test_the_reference_form_takes_the_fast_paths() -> None:
    events = good_events(["a", "b"], list(range(40)))
    raw = b"".join(map(dump, events)) + b'{"seq":'
    assert eventlog._parse_fast(raw) is not None
    columns = eventlog.status_columns(raw)
    assert columns is not None
    assert state.status_fold(*columns) == replayed(events)


@pytest.mark.parametrize("line", [
    {"seq": 1, "type": [1], "ts": 1.0},
    {"seq": 1, "type": {"k": 1}, "ts": 1.0},
])
def test_a_type_that_is_no_string_is_damage_not_a_crash(line: dict[str, Any]) -> None:
    raw = dump(line) + dump({"seq": 2, "type": "WORKFLOW_SUCCEEDED", "ts": 2.0})
    with pytest.raises(eventlog.LogDamaged, match="unknown event type"):
        eventlog.parse(raw)


def test_a_reason_that_is_no_string_is_damage_not_a_crash() -> None:
    raw = (dump({"seq": 1, "type": "WORKFLOW_STARTED", "ts": 1.0, "workflow": "w",
                 "digest": "x"})
           + dump({"seq": 2, "type": "STEP_FAILED", "ts": 2.0, "step": "a", "attempt": 1,
                   "reason": ["x"]}))
    with pytest.raises(eventlog.LogDamaged, match="reason"):
        eventlog.parse(raw)
