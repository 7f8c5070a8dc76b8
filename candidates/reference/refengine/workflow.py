"""Parsing and validating the workflow file, before anything on disk is touched.

Properties kept on purpose:
- Every rule of the contract is checked here, and a break is reported as a
  `WorkflowError` whose message names the problem and where it is
  (`steps[2].retry.max_attempts: must be an integer >= 1, got 0`).
- Types are strict: a boolean is never a number, NaN and Infinity are not JSON numbers,
  and a number too large for a float is out of range (never an internal error).
- A key given twice in one object is refused: JSON leaves its meaning open.
- Where TASK.md v1.2 lets the engine refuse or accept ("Corners the engine decides"),
  this one refuses what it cannot carry out faithfully: a string holding an unpaired
  surrogate (no UTF-8 for it), NUL in an id or a command (no argv or environment can
  hold it, and cutting it there would run another command). A step id that cannot be
  a file name is accepted: the step runs and its output stays unpublished.
- The result is frozen; the digest is the sha256 of the file's exact bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

TOP_KEYS = {"name", "max_parallel", "steps"}
STEP_KEYS = {"id", "command", "depends_on", "timeout_s", "retry"}
RETRY_KEYS = {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"}


class WorkflowError(Exception):
    """The workflow file is invalid; the message says why and where."""


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 1
    backoff_s: float = 0.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the n-th failed attempt: min(b * m**(n-1), max)."""
        if self.backoff_s == 0:
            return 0.0
        try:
            raw = self.backoff_s * self.multiplier ** (failures - 1)
        except OverflowError:  # a huge multiplier: the cap applies anyway
            raw = math.inf
        return min(raw, self.max_backoff_s)


@dataclass(frozen=True)
class Step:
    id: str
    command: tuple[str, ...]
    depends_on: tuple[str, ...]
    timeout_s: float | None
    retry: Retry


@dataclass(frozen=True)
class Workflow:
    name: str
    max_parallel: int
    steps: tuple[Step, ...]
    digest: str

    @functools.cached_property
    def _by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    def step(self, step_id: str) -> Step:
        """The step with this id (a dict lookup: the scheduler asks for every step often)."""
        return self._by_id[step_id]


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> None:
    if not isinstance(obj, dict):
        raise WorkflowError(f"{where}: must be an object, got {_show(obj)}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise WorkflowError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(obj))
    if missing:
        raise WorkflowError(f"{where}: missing required key {missing[0]!r}")


def _finite(value: int | float) -> bool:
    """Whether a number can be used as seconds: JSON's 1e999 parses to inf, and an
    integer beyond any float cannot be converted."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(where: str, value: Any, low: float, strict: bool = False, integer: bool = False) -> Any:
    """Check one number against its type and lower bound; returns it unchanged."""
    rule = f"must be {'an integer' if integer else 'a number'} {'>' if strict else '>='} {low:g}"
    is_int = isinstance(value, int) and not isinstance(value, bool)  # a boolean is no number
    if not (is_int or (not integer and isinstance(value, float))):
        raise WorkflowError(f"{where}: {rule}, got {_show(value)}")
    if not integer and not _finite(value):
        raise WorkflowError(f"{where}: {rule}, got {_show(value)}, which is out of range")
    if value < low or (strict and value == low):
        raise WorkflowError(f"{where}: {rule}, got {_show(value)}")
    return value


def _retry(where: str, obj: Any) -> Retry:
    _check_keys(where, obj, RETRY_KEYS, set())
    return Retry(
        max_attempts=_number(f"{where}.max_attempts", obj.get("max_attempts", 1), 1, integer=True),
        backoff_s=float(_number(f"{where}.backoff_s", obj.get("backoff_s", 0), 0)),
        multiplier=float(_number(f"{where}.multiplier", obj.get("multiplier", 2), 1)),
        max_backoff_s=float(_number(f"{where}.max_backoff_s", obj.get("max_backoff_s", 60), 0)),
    )


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise WorkflowError(f"{where}: must be a list of strings, got {_show(value)}")
    return tuple(value)


def _step(i: int, obj: Any) -> Step:
    where = f"steps[{i}]"
    _check_keys(where, obj, STEP_KEYS, {"id", "command"})
    if not isinstance(obj["id"], str):
        raise WorkflowError(f"{where}.id: must be a string, got {_show(obj['id'])}")
    if "\0" in obj["id"]:
        raise WorkflowError(f"{where}.id: holds NUL, which no environment variable can carry")
    command = _strings(f"{where}.command", obj["command"])
    if not command:
        raise WorkflowError(f"{where}.command: must not be empty")
    bad = next((j for j, word in enumerate(command) if "\0" in word), None)
    if bad is not None:
        raise WorkflowError(f"{where}.command[{bad}]: holds NUL, which no argv can carry")
    timeout = None
    if "timeout_s" in obj:  # present means checked, even when it is null
        timeout = float(_number(f"{where}.timeout_s", obj["timeout_s"], 0, strict=True))
    depends_on = _strings(f"{where}.depends_on", obj.get("depends_on", []))
    return Step(obj["id"], command, depends_on, timeout, _retry(f"{where}.retry", obj.get("retry", {})))


def _check_ids(steps: tuple[Step, ...]) -> None:
    index: dict[str, int] = {}
    for i, s in enumerate(steps):
        if s.id in index:
            raise WorkflowError(f"steps[{i}].id: duplicate id {s.id!r} (also steps[{index[s.id]}])")
        index[s.id] = i
    for i, s in enumerate(steps):
        for d in s.depends_on:
            if d not in index:
                raise WorkflowError(f"steps[{i}].depends_on: unknown step {d!r}")
            if d == s.id:
                raise WorkflowError(f"steps[{i}].depends_on: step {d!r} depends on itself")


def _check_acyclic(steps: tuple[Step, ...]) -> None:
    """Depth-first search without recursion, so a long chain cannot hit a limit."""
    deps = {s.id: s.depends_on for s in steps}
    done: set[str] = set()
    for root in deps:
        path, stack = [root], [iter(deps[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                done.add(path.pop())
                stack.pop()
            elif nxt in path:
                cycle = path[path.index(nxt):] + [nxt]
                raise WorkflowError(f"dependency cycle: {' -> '.join(map(repr, cycle))}")
            elif nxt not in done:
                path.append(nxt)
                stack.append(iter(deps[nxt]))


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unpaired_surrogate(doc: Any) -> bool:
    """Whether a string (or key) anywhere holds a lone \\ud800-\\udfff escape."""
    stack = [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if any("\ud800" <= c <= "\udfff" for c in v):
                return True
        elif isinstance(v, dict):
            stack += [*v.keys(), *v.values()]
        elif isinstance(v, list):
            stack += v
    return False


def _decode(data: bytes) -> Any:
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_object)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WorkflowError(f"not valid JSON: {exc}") from None
    if _unpaired_surrogate(doc):
        raise WorkflowError("not valid Unicode: a string holds an unpaired surrogate escape")
    return doc


def parse(data: bytes) -> Workflow:
    doc = _decode(data)
    _check_keys("workflow", doc, TOP_KEYS, {"name", "steps"})
    if not isinstance(doc["name"], str):
        raise WorkflowError(f"name: must be a string, got {_show(doc['name'])}")
    max_parallel = _number("max_parallel", doc.get("max_parallel", 4), 1, integer=True)
    if not isinstance(doc["steps"], list):
        raise WorkflowError(f"steps: must be a list, got {_show(doc['steps'])}")
    steps = tuple(_step(i, s) for i, s in enumerate(doc["steps"]))
    _check_ids(steps)
    _check_acyclic(steps)
    return Workflow(doc["name"], max_parallel, steps, hashlib.sha256(data).hexdigest())


def load(path: str) -> Workflow:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise WorkflowError(f"cannot read the workflow file: {exc.strerror}") from None
    return parse(data)
