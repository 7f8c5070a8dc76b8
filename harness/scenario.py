"""Scenarios as data: loading scenarios/*.toml and turning them into cell workflows.

A scenario names a procedure (how the faults are driven), a workflow, parameters and
the checks to apply. Steps are written with ``probe = [options]`` instead of a
command; `expand_workflow` turns that into the probe's argv as the cell's engine sees
it, with the audit path and the step id, so scenario files hold no paths. A
`[[checks]]` entry may name a measure (harness.measures) instead of a check: it is kept
apart, in `Scenario.measures`, so that it never judges. Every problem in a file is a
`ScenarioError` that names the file and the key.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.model import CheckSpec, Scenario
from harness.tomlfile import read_toml
from harness.workflow import workflow_corners, workflow_problems


def expand_workflow(workflow: Mapping[str, Any], probe: Sequence[str], audit: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(workflow))  # a deep copy that stays JSON
    for step in doc.get("steps", []):
        if "probe" in step:
            options = [str(o) for o in step.pop("probe")]
            step["command"] = [*probe, "--audit", audit, "--step", step["id"], *options]
    return doc


def workflow_bytes(workflow: Mapping[str, Any], probe: Sequence[str], audit: str) -> bytes:
    return (json.dumps(expand_workflow(workflow, probe, audit), indent=2) + "\n").encode()


Validators = Mapping[str, Callable[[dict[str, Any]], list[str]]]


def load_scenario(path: Path, procedures: Mapping[str, object], checks: Mapping[str, object],
                  validators: Validators | None = None,
                  measures: Mapping[str, object] | None = None) -> Scenario:
    data = read_toml(path, ScenarioError)
    for key in ("name", "description", "procedure"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ScenarioError(f"{path}: '{key}' must be a non-empty string")
    if data["procedure"] not in procedures:
        raise ScenarioError(f"{path}: unknown procedure {data['procedure']!r}"
                            f" (known: {', '.join(sorted(procedures))})")
    workflow = data.get("workflow", {"name": data["name"], "steps": []})
    expanded = expand_workflow(workflow, ["probe"], "audit")
    problems = workflow_problems(expanded)
    if problems:
        raise ScenarioError(f"{path}: [workflow] is not a valid workflow: {'; '.join(problems)}")
    corners = workflow_corners(expanded)
    if corners:  # TASK.md lets the engine refuse these: no check may demand they run
        raise ScenarioError(f"{path}: [workflow] holds what TASK.md leaves to the engine:"
                            f" {'; '.join(corners)}")
    specs: list[CheckSpec] = []
    measured: list[CheckSpec] = []
    for i, item in enumerate(data.get("checks", [])):
        name = item.get("check") if isinstance(item, dict) else None
        if name not in checks and name not in (measures or {}):
            raise ScenarioError(f"{path}: checks[{i}]: unknown check {name!r}")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise ScenarioError(f"{path}: checks[{i}].params must be a table")
        (specs if name in checks else measured).append(CheckSpec(str(name), params))
    if not specs and not measured:
        raise ScenarioError(f"{path}: a scenario needs at least one [[checks]] entry")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ScenarioError(f"{path}: [params] must be a table")
    check_params = (validators or {}).get(data["procedure"])
    problems = check_params(params) if check_params else []
    if problems:
        raise ScenarioError(f"{path}: {'; '.join(problems)}")
    return Scenario(data["name"], data["description"], data["procedure"], workflow, params,
                    tuple(specs), path.resolve(), tuple(measured))


def load_scenarios(folder: Path, procedures: Mapping[str, object], checks: Mapping[str, object],
                   pattern: str | Sequence[str] | None = None,
                   validators: Validators | None = None,
                   measures: Mapping[str, object] | None = None) -> list[Scenario]:
    """Every scenario in `folder`, or those that `pattern` (one, or several) selects."""
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no scenarios folder")
    found = [load_scenario(p, procedures, checks, validators, measures)
             for p in sorted(folder.glob("*.toml"))]
    names = [s.name for s in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScenarioError(f"{folder}: scenario names used twice: {', '.join(dupes)}")
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or ())
    return select(found, patterns)


def _matches(name: str, pattern: str, names: Sequence[str]) -> bool:
    """An exact name selects that scenario alone; otherwise a glob or a substring."""
    if pattern in names:
        return name == pattern
    return fnmatch.fnmatch(name, pattern) or pattern in name


def select(found: Sequence[Scenario], patterns: Sequence[str]) -> list[Scenario]:
    """The scenarios any of `patterns` selects, in the folder's order; all with none.
    A pattern that selects nothing is an error that names it: a typo must not quietly
    shrink a run."""
    names = [s.name for s in found]
    for pattern in patterns:
        if not any(_matches(n, pattern, names) for n in names):
            raise ScenarioError(f"no scenario matches {pattern!r} (have: {', '.join(names)})")
    if not patterns:
        return list(found)
    return [s for s in found if any(_matches(s.name, p, names) for p in patterns)]
