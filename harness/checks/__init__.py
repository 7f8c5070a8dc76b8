"""Checks: pure functions from an `Observation` to evidence of failure.

Each check is registered with the capability it tests and its severity. A check
returns a list of `Evidence`; an empty list is a pass. Checks read only ground truth
(exit codes, log bytes, the probe's audit, live processes, output bytes) and derive
every demand from the contract, accepting every behaviour the contract allows.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.model import CheckResult, CheckSpec, Evidence, Outcome, Severity
from harness.observe import Observation

CheckFn = Callable[[Observation, Mapping[str, Any]], list[Evidence]]


@dataclass(frozen=True, slots=True)
class CheckDef:
    name: str
    capability: str
    severity: Severity
    fn: CheckFn
    doc: str


REGISTRY: dict[str, CheckDef] = {}


def check(name: str, capability: str, severity: Severity) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise RuntimeError(f"check {name} registered twice")
        REGISTRY[name] = CheckDef(name, capability, severity, fn, (fn.__doc__ or "").strip())
        return fn

    return register


def run_check(spec: CheckSpec, obs: Observation) -> CheckResult:
    d = REGISTRY[spec.check]
    try:
        evidence = d.fn(obs, spec.params)
    except Exception as exc:  # a bug in the harness is never the candidate's failure
        tb = traceback.format_exc(limit=3)
        return CheckResult(d.name, d.capability, d.severity, Outcome.INFRA_ERROR,
                           detail=f"the check itself raised {exc!r}\n{tb}")
    outcome = Outcome.FAIL if evidence else Outcome.PASS
    return CheckResult(d.name, d.capability, d.severity, outcome, tuple(evidence), d.doc)


def load_all() -> dict[str, CheckDef]:
    """Import every family so that their checks register."""
    from harness.checks import (  # noqa: F401
        crash,
        dag,
        files,
        inputs,
        lock,
        logs,
        outputs,
        procs,
        retry,
        status,
        tail,
    )

    return REGISTRY
