"""Parsing and validating the workflow file, before anything on disk is touched.

Every rule of the contract is checked here and reported as a `WorkflowError` whose
message names the problem and where it is. `bool` is never accepted as a number, and
NaN/Infinity are not JSON numbers. The digest is the sha256 of the file's bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any


class WorkflowError(Exception):
    """The workflow file is invalid; the message says why and where."""


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 1
    backoff_s: float = 0.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the n-th failed attempt before the next one."""
        return min(self.backoff_s * self.multiplier ** (failures - 1), self.max_backoff_s)


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

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _check_keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> None:
    if not isinstance(obj, dict):
        raise WorkflowError(f"{where}: must be an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise WorkflowError(f"{where}: unknown key {unknown[0]!r}")
    missing = sorted(required - set(obj))
    if missing:
        raise WorkflowError(f"{where}: missing required key {missing[0]!r}")


def _number(where: str, value: Any, low: float, strict: bool = False, integer: bool = False) -> Any:
    ok = _is_int(value) if integer else _is_num(value)
    if not ok or value < low or (strict and value == low):
        kind = "an integer" if integer else "a number"
        raise WorkflowError(f"{where}: must be {kind} {'>' if strict else '>='} {low:g}")
    return value


def _retry(where: str, obj: Any) -> Retry:
    _check_keys(where, obj, {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"}, set())
    return Retry(
        max_attempts=_number(f"{where}.max_attempts", obj.get("max_attempts", 1), 1, integer=True),
        backoff_s=float(_number(f"{where}.backoff_s", obj.get("backoff_s", 0), 0)),
        multiplier=float(_number(f"{where}.multiplier", obj.get("multiplier", 2), 1)),
        max_backoff_s=float(_number(f"{where}.max_backoff_s", obj.get("max_backoff_s", 60), 0)),
    )


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise WorkflowError(f"{where}: must be a list of strings")
    return tuple(value)


def _step(i: int, obj: Any) -> Step:
    where = f"steps[{i}]"
    _check_keys(where, obj, {"id", "command", "depends_on", "timeout_s", "retry"}, {"id", "command"})
    if not isinstance(obj["id"], str):
        raise WorkflowError(f"{where}.id: must be a string")
    command = _strings(f"{where}.command", obj["command"])
    if not command:
        raise WorkflowError(f"{where}.command: must not be empty")
    timeout = obj.get("timeout_s")
    if timeout is not None or "timeout_s" in obj:
        timeout = float(_number(f"{where}.timeout_s", timeout, 0, strict=True))
    return Step(obj["id"], command, _strings(f"{where}.depends_on", obj.get("depends_on", [])),
                timeout, _retry(f"{where}.retry", obj.get("retry", {})))


def _check_graph(steps: tuple[Step, ...]) -> None:
    ids = [s.id for s in steps]
    for s in steps:
        if ids.count(s.id) > 1:
            raise WorkflowError(f"duplicate step id {s.id!r}")
        for d in s.depends_on:
            if d not in ids:
                raise WorkflowError(f"step {s.id!r} depends on unknown step {d!r}")
    deps = {s.id: s.depends_on for s in steps}
    done: set[str] = set()
    while len(done) < len(deps):  # Kahn: whatever never becomes ready is on a cycle
        ready = [i for i in deps if i not in done and all(d in done for d in deps[i])]
        if not ready:
            stuck = sorted(i for i in deps if i not in done)
            raise WorkflowError(f"dependency cycle among steps {', '.join(map(repr, stuck))}")
        done.update(ready)


def parse(data: bytes) -> Workflow:
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WorkflowError(f"not valid JSON: {exc}") from None
    _check_keys("workflow", doc, {"name", "max_parallel", "steps"}, {"name", "steps"})
    if not isinstance(doc["name"], str):
        raise WorkflowError("name: must be a string")
    max_parallel = _number("max_parallel", doc.get("max_parallel", 4), 1, integer=True)
    if not isinstance(doc["steps"], list):
        raise WorkflowError("steps: must be a list")
    steps = tuple(_step(i, s) for i, s in enumerate(doc["steps"]))
    _check_graph(steps)
    return Workflow(doc["name"], max_parallel, steps, hashlib.sha256(data).hexdigest())


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load(path: str) -> Workflow:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise WorkflowError(f"cannot read workflow file {path}: {exc.strerror}") from None
    return parse(data)
