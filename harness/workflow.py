"""The contract's workflow-file rules, as a pure validator.

`workflow_problems` returns every rule a parsed workflow breaks (empty: valid). The
harness uses it to refuse scenario files whose "valid" workflow is not valid, and to
confirm that each "invalid" case really breaks a rule, so a check never demands exit 2
for a workflow the contract allows. It never raises, whatever the input.

TASK.md (v1.2, "Corners the engine decides") leaves some inputs to the engine: it may
refuse them as invalid or accept them. `text_problems` therefore reads a file the most
lenient allowed way (a byte-order mark skipped, a repeated key taking either value, a
`null` optional key absent, numbers exact), so an "invalid" case is one that every
allowed reading refuses; `workflow_corners`/`text_corners` name the corners a file
holds, so a scenario's "valid" workflow holds none and no check judges what the
contract leaves free.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

TOP_KEYS = {"name", "max_parallel", "steps"}
STEP_KEYS = {"id", "command", "depends_on", "timeout_s", "retry"}
RETRY_KEYS = {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"}


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: object) -> bool:
    """An int (any size: never converted to a float), or a finite float or Decimal."""
    if _int(v):
        return True
    if isinstance(v, Decimal):
        return v.is_finite()
    return isinstance(v, float) and math.isfinite(v)


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


BOM = b"\xef\xbb\xbf"
INT64 = (-(1 << 63), (1 << 63) - 1)
NAME_MAX = 255
OPTIONAL = {"max_parallel", "depends_on", "timeout_s", "retry", *RETRY_KEYS}


class _Repeated(dict):  # type: ignore[type-arg]
    """An object that held a key twice (the value kept is the hook's choice)."""


def _hook(keep_first: bool) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        repeated = False
        for key, value in pairs:
            repeated |= key in obj
            if not (keep_first and key in obj):
                obj[key] = value
        return _Repeated(obj) if repeated else obj
    return build


def _readings(text: bytes) -> list[object]:
    """The document as each lenient reading sees it (first and last of a repeated key);
    raises ValueError when no allowed reading finds JSON."""
    if text.startswith(BOM):  # RFC 8259: a parser may ignore it
        text = text[len(BOM):]
    decoded = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return [json.loads(decoded, parse_constant=_reject_constant, parse_float=Decimal,
                       object_pairs_hook=_hook(first)) for first in (False, True)]


def _without_optional_nulls(doc: object) -> object:
    """The document with every optional key whose value is null taken as absent."""
    if not isinstance(doc, dict):
        return doc
    out = {k: v for k, v in doc.items() if not (k in OPTIONAL and v is None)}
    if isinstance(out.get("steps"), list):
        out["steps"] = [_without_optional_nulls(s) for s in out["steps"]]
    if isinstance(out.get("retry"), dict):
        out["retry"] = _without_optional_nulls(out["retry"])
    return out


def text_problems(text: bytes) -> list[str]:
    """Problems of a workflow file's bytes that every reading TASK.md allows finds,
    starting with 'not JSON' (empty: some allowed reading accepts the file)."""
    try:
        docs = _readings(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [f"not JSON: {exc}"]
    found = [workflow_problems(_without_optional_nulls(d)) for d in docs]
    return [] if not all(found) else found[0]


def _walk(value: object, where: str = "workflow") -> Iterator[tuple[str, object]]:
    yield where, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{where}[{i}]")


def _file_name_problem(step_id: str) -> str | None:
    if step_id in ("", ".", ".."):
        return f"{step_id!r} names no file"
    if "/" in step_id or "\0" in step_id:
        return "it holds '/' or NUL"
    try:
        if len(step_id.encode("utf-8")) > NAME_MAX:
            return f"it is longer than {NAME_MAX} bytes"
    except UnicodeEncodeError:
        return "it is not valid Unicode"
    return None


def workflow_corners(doc: object) -> list[str]:
    """The corners of a parsed workflow that TASK.md leaves to the engine (refuse it, or
    accept it): a step id that cannot be a file name, NUL in an id or command, a string
    with an unpaired surrogate, an integer beyond 64 bits, a float beyond a double's
    range, a repeated key, null for an optional key. Never raises."""
    out: list[str] = []
    for where, v in _walk(doc):
        if isinstance(v, _Repeated):
            out.append(f"{where}: a key appears twice")
        if isinstance(v, dict):
            out += [f"{where}.{k}: null for an optional key" for k, x in v.items()
                    if x is None and k in OPTIONAL]
        if isinstance(v, str) and any("\ud800" <= c <= "\udfff" for c in v):
            out.append(f"{where}: an unpaired surrogate escape")
        if _int(v) and not INT64[0] <= v <= INT64[1]:  # type: ignore[operator]
            out.append(f"{where}: an integer beyond 64 bits")
        if isinstance(v, (float, Decimal)) and not math.isfinite(_as_float(v)):
            out.append(f"{where}: a number beyond a double's range")
    steps = doc.get("steps") if isinstance(doc, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        sid = step.get("id")
        problem = _file_name_problem(sid) if isinstance(sid, str) else None
        if problem:
            out.append(f"steps[{i}].id: cannot be a file name in outputs/: {problem}")
        cmd = step.get("command")
        if isinstance(cmd, list) and any(isinstance(c, str) and "\0" in c for c in cmd):
            out.append(f"steps[{i}].command: holds NUL")
    return out


def _as_float(v: float | Decimal) -> float:
    try:
        return float(v)
    except OverflowError:  # float() of a Decimal gives inf rather than raising; be safe
        return math.inf


def text_corners(text: bytes) -> list[str]:
    """The corners a workflow file's bytes hold (see `workflow_corners`; also a
    byte-order mark). Empty for bytes that are no JSON under any allowed reading."""
    try:
        docs = _readings(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return []
    return (["a byte-order mark"] if text.startswith(BOM) else []) + workflow_corners(docs[0])


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")
