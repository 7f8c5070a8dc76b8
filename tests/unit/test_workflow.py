"""Property tests for the contract's workflow validator."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.workflow import text_problems, workflow_problems

ids = st.text("abcdefgh", min_size=1, max_size=4)


@st.composite
def valid_workflows(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    steps = []
    for i, name in enumerate(names):
        step: dict[str, Any] = {"id": name, "command": ["true"]}
        step["depends_on"] = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        if draw(st.booleans()):
            step["timeout_s"] = draw(st.floats(0.01, 100))
        if draw(st.booleans()):
            step["retry"] = {"max_attempts": draw(st.integers(1, 5)),
                             "backoff_s": draw(st.floats(0, 10)),
                             "multiplier": draw(st.floats(1, 4)),
                             "max_backoff_s": draw(st.integers(0, 60))}
        steps.append(step)
    doc: dict[str, Any] = {"name": draw(st.text(max_size=5)), "steps": steps}
    if draw(st.booleans()):
        doc["max_parallel"] = draw(st.integers(1, 8))
    return doc


@given(valid_workflows())
def test_valid_workflows_have_no_problems(doc: dict[str, Any]) -> None:
    assert workflow_problems(doc) == []
    assert text_problems(json.dumps(doc).encode()) == []


BREAKERS = {
    "unknown key": lambda d: d["steps"][0].__setitem__("retries", 1),
    "empty command": lambda d: d["steps"][0].__setitem__("command", []),
    "max_attempts 0": lambda d: d["steps"][0].__setitem__("retry", {"max_attempts": 0}),
    "duplicate id": lambda d: d["steps"].append(dict(d["steps"][0])),
    "unknown dep": lambda d: d["steps"][0].__setitem__("depends_on", ["zzzzz"]),
    "self cycle": lambda d: d["steps"][-1].__setitem__("depends_on", [d["steps"][-1]["id"]]),
    "bool parallel": lambda d: d.__setitem__("max_parallel", True),
    "no name": lambda d: d.pop("name"),
    "string timeout": lambda d: d["steps"][0].__setitem__("timeout_s", "5"),
}


@given(valid_workflows(), st.sampled_from(sorted(BREAKERS)))
def test_each_rule_broken_is_reported(doc: dict[str, Any], rule: str) -> None:
    BREAKERS[rule](doc)
    assert workflow_problems(doc), rule


def test_a_longer_cycle_is_reported() -> None:
    doc = {"name": "w", "steps": [{"id": "a", "command": ["x"], "depends_on": ["c"]},
                                  {"id": "b", "command": ["x"], "depends_on": ["a"]},
                                  {"id": "c", "command": ["x"], "depends_on": ["b"]}]}
    assert any("cycle" in p for p in workflow_problems(doc))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                        max_size=3)))
def test_any_json_value_never_raises(doc: object) -> None:
    workflow_problems(doc)


@given(st.binary(max_size=200))
def test_any_bytes_never_raise(raw: bytes) -> None:
    text_problems(raw)


def test_nan_is_not_json() -> None:
    assert text_problems(b'{"name": "w", "steps": [], "max_parallel": NaN}')
