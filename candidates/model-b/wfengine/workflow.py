"""Workflow definitions: loading a workflow file and validating it completely."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


class WorkflowValidationError(Exception):
    """The workflow file is invalid; the message names the problem."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff_s: float = 0.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def delay_for(self, failures: int) -> float:
        """Backoff after the n-th failed attempt."""
        if self.backoff_s == 0:
            return 0.0
        try:
            delay = self.backoff_s * self.multiplier ** (failures - 1)
        except OverflowError:
            delay = math.inf
        return min(delay, self.max_backoff_s)


@dataclass(frozen=True)
class Step:
    id: str
    command: List[str]
    depends_on: List[str] = field(default_factory=list)
    timeout_s: Optional[float] = None
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class Workflow:
    name: str
    max_parallel: int
    steps: Dict[str, Step]
    digest: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_keys(where: str, obj: Any, allowed: set, required: tuple = ()) -> None:
    if not isinstance(obj, dict):
        raise WorkflowValidationError(f"{where}: must be an object")
    for key in obj:
        if key not in allowed:
            raise WorkflowValidationError(f"{where}: unknown key {key!r}")
    for key in required:
        if key not in obj:
            raise WorkflowValidationError(f"{where}: missing required key {key!r}")


def _number(where: str, value: Any, low: float, strict: bool = False, integer: bool = False) -> Any:
    ok = _is_int(value) if integer else _is_number(value)
    kind = "an integer" if integer else "a number"
    op = ">" if strict else ">="
    if not ok or (value <= low if strict else value < low):
        raise WorkflowValidationError(f"{where}: must be {kind} {op} {low:g}")
    return value


def _no_constants(name: str) -> Any:
    raise WorkflowValidationError(f"not valid JSON: {name} is not allowed")


def parse_workflow(raw: bytes) -> Workflow:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowValidationError("workflow file is not UTF-8") from None
    try:
        doc = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise WorkflowValidationError(f"not valid JSON: {exc}") from None
    _check_keys("workflow", doc, {"name", "max_parallel", "steps"}, ("name", "steps"))
    if not isinstance(doc["name"], str):
        raise WorkflowValidationError("name: must be a string")
    max_parallel = _number("max_parallel", doc.get("max_parallel", 4), 1, integer=True)
    if not isinstance(doc["steps"], list):
        raise WorkflowValidationError("steps: must be a list")

    steps: Dict[str, Step] = {}
    for i, s in enumerate(doc["steps"]):
        where = f"steps[{i}]"
        _check_keys(where, s, {"id", "command", "depends_on", "timeout_s", "retry"},
                    ("id", "command"))
        if not isinstance(s["id"], str):
            raise WorkflowValidationError(f"{where}.id: must be a string")
        if s["id"] in steps:
            raise WorkflowValidationError(f"{where}.id: duplicate step id {s['id']!r}")
        command = s["command"]
        if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
            raise WorkflowValidationError(f"{where}.command: must be a list of strings")
        if not command:
            raise WorkflowValidationError(f"{where}.command: must not be empty")
        depends_on = s.get("depends_on", [])
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            raise WorkflowValidationError(f"{where}.depends_on: must be a list of strings")
        timeout_s = None
        if "timeout_s" in s:
            timeout_s = float(_number(f"{where}.timeout_s", s["timeout_s"], 0, strict=True))
        retry_doc = s.get("retry", {})
        _check_keys(f"{where}.retry", retry_doc,
                    {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"})
        retry = RetryPolicy(
            max_attempts=_number(f"{where}.retry.max_attempts", retry_doc.get("max_attempts", 1),
                                 1, integer=True),
            backoff_s=float(_number(f"{where}.retry.backoff_s", retry_doc.get("backoff_s", 0), 0)),
            multiplier=float(_number(f"{where}.retry.multiplier", retry_doc.get("multiplier", 2), 1)),
            max_backoff_s=float(_number(f"{where}.retry.max_backoff_s",
                                        retry_doc.get("max_backoff_s", 60), 0)),
        )
        steps[s["id"]] = Step(s["id"], list(command), list(depends_on), timeout_s, retry)

    for step in steps.values():
        for dep in step.depends_on:
            if dep not in steps:
                raise WorkflowValidationError(
                    f"step {step.id!r}: depends_on names unknown step {dep!r}")
    _detect_cycle(steps)
    return Workflow(doc["name"], max_parallel, steps, hashlib.sha256(raw).hexdigest())


def _detect_cycle(steps: Dict[str, Step]) -> None:
    """Kahn's algorithm: whatever cannot be ordered is on a cycle."""
    indegree = {sid: len(s.depends_on) for sid, s in steps.items()}
    dependents: Dict[str, List[str]] = {sid: [] for sid in steps}
    for s in steps.values():
        for dep in s.depends_on:
            dependents[dep].append(s.id)
    queue = [sid for sid, n in indegree.items() if n == 0]
    seen = 0
    while queue:
        sid = queue.pop()
        seen += 1
        for child in dependents[sid]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if seen != len(steps):
        stuck = sorted(sid for sid, n in indegree.items() if n > 0)
        raise WorkflowValidationError(f"dependency cycle among steps {', '.join(stuck)}")


def load_workflow(path: str) -> Workflow:
    with open(path, "rb") as f:
        return parse_workflow(f.read())
