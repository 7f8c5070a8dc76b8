"""The harness's model of the workflow rules and the reference engine agree.

Hypothesis generates workflows, valid and broken in one way; the reference must exit 2
(creating no STATE_DIR) exactly when the harness's validator finds a problem. Two
implementations written apart from one contract, checked against each other. Where the
workflow holds a corner TASK.md v1.2 leaves to the engine ("Corners the engine decides",
for example null for an optional key), refusing it and running it are both right.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.workflow import text_corners, text_problems

REFERENCE = Path(__file__).resolve().parents[2] / "candidates" / "reference" / "main.py"

values = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(-1, 3),
                   st.text("ab", max_size=2), st.just([]), st.just(["true"]))


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    steps: list[dict[str, Any]] = [{"id": f"s{i}", "command": ["true"]} for i in range(n)]
    for i, step in enumerate(steps):
        if i and draw(st.booleans()):
            step["depends_on"] = [f"s{draw(st.integers(0, n - 1))}"]
        if draw(st.booleans()):
            step["retry"] = {"max_attempts": 1, "backoff_s": 0}
    doc: dict[str, Any] = {"name": "w", "max_parallel": 2, "steps": steps}
    where = draw(st.sampled_from(["none", "top", "step", "retry", "drop"]))
    if where == "top":
        doc[draw(st.sampled_from(["name", "max_parallel", "steps", "extra"]))] = draw(values)
    elif where == "step":
        steps[0][draw(st.sampled_from(["id", "command", "depends_on", "timeout_s", "x"]))] = draw(values)
    elif where == "retry":
        steps[0]["retry"] = {draw(st.sampled_from(["max_attempts", "backoff_s", "multiplier",
                                                   "max_backoff_s", "y"])): draw(values)}
    elif where == "drop":
        target = draw(st.sampled_from(["name", "steps", "id", "command"]))
        (doc if target in doc else steps[0]).pop(target, None)
    return doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
@example({"name": "w", "max_parallel": 2,  # a corner: null for an optional key
          "steps": [{"id": "s0", "command": ["true"], "retry": {"max_attempts": None}}]})
def test_reference_refuses_exactly_what_the_contract_forbids(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc).encode()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "wf.json").write_bytes(raw)
        state = Path(tmp) / "state"
        p = subprocess.run([sys.executable, str(REFERENCE), "run", "wf.json", str(state)],
                           cwd=tmp, capture_output=True, timeout=30)
        problems = text_problems(raw)
        if not problems and text_corners(raw) and p.returncode == 2:
            assert p.stderr.strip() and not state.exists()  # refused, as it may be
        elif problems:
            assert p.returncode == 2, (problems, p.stderr)
            assert p.stderr.strip() and not state.exists()
        else:
            assert p.returncode == 0, (doc, p.stderr)
