"""Named scenario subsets (`scenarios/suites/NAME.toml`), and what a run covered.

A suite is data: a name, a description and the scenarios it runs, for instance `quick`,
a subset that a pull request's gate can afford and that still reaches every capability.
`Coverage` records which scenarios a run judged out of every scenario that judges in
its folder (a scenario of measures alone, throughput, scores nothing and is not
counted), and how they were picked; a run that left some out is
*partial*, and everything that prints its scores says so, because a score over six
scenarios is not comparable with one over fifteen. A results.json written before
coverage was recorded counts as a full run of its own scenarios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.tomlfile import read_toml

SUITES = "suites"  # the folder of suite files inside a scenarios folder


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    description: str
    scenarios: tuple[str, ...]
    path: Path


def suite_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / SUITES).glob("*.toml"))


def load_suite(folder: Path, name: str, known: Sequence[str]) -> Suite:
    """The suite `name` of the scenarios folder `folder`; every scenario it names must be
    one of `known` (a clean error names the file and the unknown names)."""
    names = suite_names(folder)
    if name not in names:
        have = ", ".join(names) or f"none: {folder / SUITES} holds no suite file"
        raise ScenarioError(f"no suite named {name!r} (have: {have})")
    path = folder / SUITES / f"{name}.toml"
    data = read_toml(path, ScenarioError)
    description = data.get("description", "")
    listed = data.get("scenarios")
    if not isinstance(description, str):
        raise ScenarioError(f"{path}: 'description' must be a string")
    if (not isinstance(listed, list) or not listed
            or not all(isinstance(s, str) and s for s in listed)):
        raise ScenarioError(f"{path}: 'scenarios' must be a non-empty list of scenario names")
    unknown = [s for s in listed if s not in known]
    if unknown:
        raise ScenarioError(f"{path}: unknown scenario(s) {', '.join(map(repr, unknown))}"
                            f" (have: {', '.join(known)})")
    extra = sorted(set(data) - {"description", "scenarios"})
    if extra:
        raise ScenarioError(f"{path}: unknown key(s) {', '.join(extra)}")
    return Suite(name, description, tuple(dict.fromkeys(listed)), path)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The scenarios a run judged (`run`), out of `every` scenario it could have, and how
    they were picked (a suite's name, --scenario patterns)."""

    run: tuple[str, ...]
    every: tuple[str, ...]
    suite: str = ""
    patterns: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return not set(self.every) <= set(self.run)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(s for s in self.every if s not in self.run)

    def picked_by(self) -> str:
        parts = [f"--suite {self.suite}"] if self.suite else []
        parts += [f"--scenario {p}" for p in self.patterns]
        return " ".join(parts)

    def short(self) -> str:
        """'6 of 15 scenarios'."""
        return f"{len(self.run)} of {len(self.every)} scenarios"

    def judged(self) -> str:
        """'6 of 15 scenarios (--suite quick)'."""
        how = self.picked_by()
        return self.short() + (f" ({how})" if how else "")

    def says(self) -> str:
        """'partial: 6 of 15 scenarios (--suite quick)', or 'all 15 scenarios'."""
        return f"partial: {self.judged()}" if self.partial else f"all {len(self.every)} scenarios"

    def to_json(self) -> dict[str, Any]:
        return {"partial": self.partial, "scenarios": len(self.run), "of": len(self.every),
                "judged": list(self.run), "missing": list(self.missing),
                "suite": self.suite or None,
                "patterns": list(self.patterns), "says": self.says()}


def coverage_of(doc: Mapping[str, Any]) -> Coverage:
    """A results document's coverage; one without the key ran all it knew of."""
    run = tuple(str(s) for s in doc.get("scenarios", []))
    cov = doc.get("coverage")
    if not isinstance(cov, Mapping):
        return Coverage(run, run)
    run = tuple(str(s) for s in cov.get("judged", run))
    missing = tuple(str(s) for s in cov.get("missing", []))
    return Coverage(run, run + missing, str(cov.get("suite") or ""),
                    tuple(str(p) for p in cov.get("patterns", [])))
