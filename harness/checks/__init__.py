"""Checks: pure functions from an `Observation` to evidence of failure.

Each check is registered with the capability it tests and its severity. A check
returns a list of `Evidence`; an empty list is a pass. Checks read only ground truth
(exit codes, log bytes, the probe's audit, live processes, output bytes) and derive
every demand from the contract, accepting every behaviour the contract allows.

A pass must mean that what the check guards happened and held. Where it never happened
the check says which of two cases it is: the contract demanded it (a valid workflow's
steps must run, a step that outlives its timeout must be timed out), and then its
absence is evidence of failure; or only the harness's own fault schedule missed (the
engine finished before the seeded kill), and then the check raises `NotExercised`,
which is left out of the score and shown apart.

Each check's docstring ends by citing the TASK.md sections whose rule it enforces
(`harness.checks.cites`); tests/unit/test_check_citations.py holds every check to it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.checks.cites import cited_sections
from harness.model import CheckResult, CheckSpec, Evidence, Outcome, Severity
from harness.observe import Observation

CheckFn = Callable[[Observation, Mapping[str, Any]], list[Evidence]]


class NotExercised(Exception):  # noqa: N818 - it names an outcome, not an error
    """What the check guards never happened, through no fault of the candidate.

    `why` is one sentence saying what did not happen (for the report and junit);
    `where` says where that was seen."""

    def __init__(self, why: str, where: str = "cell") -> None:
        super().__init__(why)
        self.why = why
        self.where = where


@dataclass(frozen=True, slots=True)
class CheckDef:
    name: str
    capability: str
    severity: Severity
    fn: CheckFn
    doc: str
    cites: tuple[str, ...] = ()  # the TASK.md sections the docstring cites (checks.cites)


REGISTRY: dict[str, CheckDef] = {}


def check(name: str, capability: str, severity: Severity) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in REGISTRY:
            raise RuntimeError(f"check {name} registered twice")
        REGISTRY[name] = CheckDef(name, capability, severity, fn, (fn.__doc__ or "").strip(),
                                  cited_sections(fn))
        return fn

    return register


def run_check(spec: CheckSpec, obs: Observation) -> CheckResult:
    d = REGISTRY[spec.check]
    try:
        evidence = d.fn(obs, spec.params)
    except NotExercised as ne:
        why = (Evidence(f"what {d.name} guards happens at least once", ne.why, ne.where),)
        return CheckResult(d.name, d.capability, d.severity, Outcome.NOT_EXERCISED, why, ne.why)
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
        durability,
        files,
        inputs,
        lock,
        logs,
        outputs,
        procs,
        retry,
        states,
        status,
        tail,
    )

    return REGISTRY
