"""The contract's workflow-file rules, as a pure validator.

`workflow_problems` returns every rule a parsed workflow breaks (empty: valid). The
harness uses it to refuse scenario files whose "valid" workflow is not valid, and to
confirm that each "invalid" case really breaks a rule, so a check never demands exit 2
for a workflow the contract allows. It never raises, whatever the input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

TOP_KEYS = {"name", "max_parallel", "steps"}
STEP_KEYS = {"id", "command", "depends_on", "timeout_s", "retry"}
RETRY_KEYS = {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"}


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object) -> bool:
    return (_int(v) or isinstance(v, float)) and math.isfinite(float(v))  # type: ignore[arg-type]


def _unknown(where: str, obj: Mapping[str, Any], allowed: set[str]) -> list[str]:
    return [f"{where}: unknown key {k!r}" for k in sorted(set(obj) - allowed, key=str)]


def _retry_problems(where: str, retry: object) -> list[str]:
    if not isinstance(retry, dict):
        return [f"{where}: must be an object"]
    out = _unknown(where, retry, RETRY_KEYS)
    rules = {"max_attempts": (_int, 1), "backoff_s": (_num, 0), "multiplier": (_num, 1),
             "max_backoff_s": (_num, 0)}
    for key, (kind, low) in rules.items():
        if key in retry and not (kind(retry[key]) and retry[key] >= low):
            out.append(f"{where}.{key}: must be {'an integer' if kind is _int else 'a number'}"
                       f" >= {low}")
    return out


def _step_problems(i: int, step: object) -> list[str]:
    where = f"steps[{i}]"
    if not isinstance(step, dict):
        return [f"{where}: must be an object"]
    out = _unknown(where, step, STEP_KEYS)
    if not isinstance(step.get("id"), str):
        out.append(f"{where}.id: required string")
    cmd = step.get("command")
    if not (isinstance(cmd, list) and all(isinstance(c, str) for c in cmd)):
        out.append(f"{where}.command: required list of strings")
    elif not cmd:
        out.append(f"{where}.command: must not be empty")
    deps = step.get("depends_on", [])
    if not (isinstance(deps, list) and all(isinstance(d, str) for d in deps)):
        out.append(f"{where}.depends_on: must be a list of strings")
    if "timeout_s" in step and not (_num(step["timeout_s"]) and step["timeout_s"] > 0):
        out.append(f"{where}.timeout_s: must be a number > 0")
    if "retry" in step:
        out += _retry_problems(f"{where}.retry", step["retry"])
    return out


def _graph_problems(steps: list[Mapping[str, Any]]) -> list[str]:
    ids = [s["id"] for s in steps]
    out = [f"duplicate step id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    deps = {s["id"]: list(s.get("depends_on", [])) for s in steps}
    for sid, ds in deps.items():
        out += [f"step {sid!r} depends on unknown step {d!r}" for d in ds if d not in deps]
    if out:
        return out
    state: dict[str, int] = {}  # 1 visiting, 2 done: iterative DFS, no recursion limit

    for root in deps:
        stack = [(root, iter(deps[root]))]
        state.setdefault(root, 1)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [f"dependency cycle through step {nxt!r}"]
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(deps[nxt])))
    return []


def workflow_problems(doc: object) -> list[str]:
    if not isinstance(doc, dict):
        return ["workflow: must be a JSON object"]
    out = _unknown("workflow", doc, TOP_KEYS)
    if not isinstance(doc.get("name"), str):
        out.append("name: required string")
    if "max_parallel" in doc and not (_int(doc["max_parallel"]) and doc["max_parallel"] >= 1):
        out.append("max_parallel: must be an integer >= 1")
    steps = doc.get("steps")
    if not isinstance(steps, list):
        return out + ["steps: required list"]
    for i, step in enumerate(steps):
        out += _step_problems(i, step)
    if not out:
        out += _graph_problems(steps)
    return out


def text_problems(text: bytes) -> list[str]:
    """Problems of a workflow file's bytes, starting with 'not JSON'."""
    try:
        doc = json.loads(text.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        return [f"not JSON: {exc}"]
    return workflow_problems(doc)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")
