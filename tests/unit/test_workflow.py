"""Property tests for the contract's workflow validator."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.workflow import text_corners, text_problems, workflow_corners, workflow_problems

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
    workflow_corners(doc)


@given(st.binary(max_size=200))
def test_any_bytes_never_raise(raw: bytes) -> None:
    text_problems(raw)
    text_corners(raw)


def test_nan_is_not_json() -> None:
    assert text_problems(b'{"name": "w", "steps": [], "max_parallel": NaN}')


# TASK.md v1.2, "Corners the engine decides": each may be refused or accepted, so none
# makes a case "invalid", and each is named so that no scenario's valid workflow holds it.
STEP = '{"id": "a", "command": ["true"]}'


def wf(head: str) -> bytes:
    return ('{"name": "w", ' + head + '"steps": [' + STEP + ']}').encode()
CORNERS = {
    "byte-order mark": b"\xef\xbb\xbf" + wf(""),
    "repeated key": wf('"name": "v", '),
    "unpaired surrogate": wf('"name": "\\ud800", '),
    "integer beyond 64 bits": wf(f'"max_parallel": {2**64}, '),
    "1e400": b'{"name": "w", "steps": [{"id": "a", "command": ["x"], "timeout_s": 1e400}]}',
    "huge integer number": (f'{{"name": "w", "steps": [{{"id": "a", "command": ["x"],'
                            f' "timeout_s": {10**400}}}]}}').encode(),
    "null optional key": b'{"name": "w", "steps": [{"id": "a", "command": ["x"], "retry": null}]}',
    "null retry key": b'{"name": "w", "steps": [{"id": "a", "command": ["x"],'
                      b' "retry": {"backoff_s": null}}]}',
    "id a/b": b'{"name": "w", "steps": [{"id": "a/b", "command": ["x"]}]}',
    "id ..": b'{"name": "w", "steps": [{"id": "..", "command": ["x"]}]}',
    "empty id": b'{"name": "w", "steps": [{"id": "", "command": ["x"]}]}',
    "long id": (f'{{"name": "w", "steps": [{{"id": "{"x" * 256}", "command": ["x"]}}]}}').encode(),
    "NUL in id": b'{"name": "w", "steps": [{"id": "a\\u0000b", "command": ["x"]}]}',
    "NUL in command": b'{"name": "w", "steps": [{"id": "a", "command": ["x\\u0000y"]}]}',
}


def test_each_corner_is_named_and_no_case_of_invalidity() -> None:
    for name, raw in CORNERS.items():
        assert text_problems(raw) == [], name
        assert text_corners(raw), name


def test_a_corner_does_not_excuse_a_real_problem() -> None:
    assert text_problems(b'\xef\xbb\xbf{"name": "w", "steps": [{"id": "a", "command": []}]}')
    assert text_problems(b'{"name": null, "steps": []}')  # null for a required key
    assert text_problems(b'{"name": "w", "steps": [{"id": "a", "command": [null]}]}')
    # repeated: invalid whichever value is kept
    assert text_problems(b'{"name": "w", "max_parallel": 0, "max_parallel": -1, "steps": []}')
    assert text_problems(b'{"name": "w", "steps": [], "max_parallel": -1e400}')


def test_a_repeated_key_is_valid_if_either_value_is() -> None:
    assert text_problems(b'{"name": "w", "max_parallel": 0, "max_parallel": 2, "steps": []}') == []
    assert text_problems(b'{"name": "w", "max_parallel": 2, "max_parallel": 0, "steps": []}') == []


def test_ordinary_workflows_hold_no_corner() -> None:
    assert text_corners(wf("")) == []
    assert text_corners(b'{"name": "w", "steps": [{"id": ".x y", "command": ["./a"],'
                        b' "timeout_s": 1e300}]}') == []
    assert workflow_corners({"name": "w", "max_parallel": 2**63 - 1, "steps": []}) == []


@given(st.integers() | st.floats(allow_nan=False), st.sampled_from(
    ["max_parallel", "timeout_s", "backoff_s", "multiplier", "max_backoff_s", "max_attempts"]))
def test_any_number_anywhere_never_raises(value: object, key: str) -> None:
    step: dict[str, Any] = {"id": "a", "command": ["x"]}
    doc: dict[str, Any] = {"name": "w", "steps": [step]}
    if key == "max_parallel":
        doc[key] = value
    elif key == "timeout_s":
        step[key] = value
    else:
        step["retry"] = {key: value}
    workflow_problems(doc)
    workflow_corners(doc)
    text_problems(json.dumps(doc).encode())


def test_the_scenarios_hold_no_corner() -> None:
    from harness import api
    from harness.scenario import expand_workflow
    for scenario in api.all_scenarios():
        assert workflow_corners(expand_workflow(scenario.workflow, ["probe"], "audit")) == []


def test_a_scenario_whose_valid_workflow_holds_a_corner_is_refused(tmp_path: Any) -> None:
    import pytest

    from harness.errors import ScenarioError
    from harness.scenario import load_scenario
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\ndescription = "d"\nprocedure = "p"\n'
                    '[workflow]\nname = "w"\n[[workflow.steps]]\nid = "a/b"\nprobe = []\n'
                    '[[checks]]\ncheck = "c"\n')
    with pytest.raises(ScenarioError, match="leaves to the engine"):
        load_scenario(path, {"p": object()}, {"c": object()})


def test_an_invalid_case_valid_under_some_allowed_reading_is_refused() -> None:
    from harness.faults.logfaults import validate_invalid_cases
    lenient = [{"name": "null timeout", "text": '{"name": "w", "steps": [{"id": "a",'
                ' "command": ["x"], "timeout_s": null}]}'}]
    assert validate_invalid_cases({"cases": lenient})
    strict = [{"name": "null name", "text": '{"name": null, "steps": []}'}]
    assert validate_invalid_cases({"cases": strict}) == []
