"""The mutant suite: single-defect variants of the reference, and the mutation score.

A mutant is a candidate folder under candidates/mutants/ whose manifest has a
`[mutant]` table: the defect, the scenario that exposes it, and the checks aimed at
it. A mutant is *caught* when every aimed check fails in that scenario; failing some
other check does not count. The mutation score is caught / all. Checks left
`infra_error` or `not_exercised` (the scenario's fault never reached what the check
guards) make a mutant *unjudged*, reported apart and never counted as a survivor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ManifestError, UsageError
from harness.manifest import MANIFEST, load_candidate
from harness.model import Candidate, CellResult, Outcome, Scenario
from harness.scoring import UNJUDGED

FOLDER = "mutants"


@dataclass(frozen=True, slots=True)
class MutantResult:
    name: str
    defect: str
    scenario: str
    aimed: tuple[str, ...]
    outcomes: tuple[tuple[str, str], ...]  # aimed check -> pass / fail / not_exercised / infra_error
    also_failed: tuple[str, ...]  # other checks of the cell that failed
    reproduce: str

    @property
    def judged(self) -> bool:
        return all(Outcome(o) not in UNJUDGED for _, o in self.outcomes)

    @property
    def caught(self) -> bool:
        return self.judged and all(o == Outcome.FAIL.value for _, o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "defect": self.defect, "scenario": self.scenario,
                "aimed": dict(self.outcomes), "caught": self.caught, "judged": self.judged,
                "also_failed": list(self.also_failed), "reproduce": self.reproduce}


def discover(root: Path, names: Sequence[str] = ()) -> list[Candidate]:
    """The mutants under root/candidates/mutants (all, or those named)."""
    base = root / "candidates" / FOLDER
    folders = sorted(p for p in base.iterdir() if (p / MANIFEST).is_file()) if base.is_dir() else []
    if names:
        known = {p.name: p for p in folders}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"no such mutant: {', '.join(unknown)} (known: {', '.join(known)})")
        folders = [known[n] for n in names]
    found = [load_candidate(p) for p in folders]
    for c in found:
        if c.mutant is None:
            raise ManifestError(f"{c.path / MANIFEST}: a folder under candidates/{FOLDER}/ needs"
                                " a [mutant] table naming its defect, scenario and checks")
    return found


def validate(mutants: Sequence[Candidate], scenarios: Sequence[Scenario]) -> None:
    """Every mutant names a scenario that exists and checks that scenario runs."""
    by_name = {s.name: s for s in scenarios}
    for c in mutants:
        assert c.mutant is not None
        where = c.path / MANIFEST
        scenario = by_name.get(c.mutant.scenario)
        if scenario is None:
            raise ManifestError(f"{where}: mutant.scenario {c.mutant.scenario!r} is not a scenario")
        ran = {spec.check for spec in scenario.checks}
        missing = [k for k in c.mutant.checks if k not in ran]
        if missing:
            raise ManifestError(f"{where}: mutant.checks {', '.join(missing)} are not checks of"
                                f" the {scenario.name} scenario")


def judge(c: Candidate, cell: CellResult) -> MutantResult:
    assert c.mutant is not None
    by_check: dict[str, str] = {}
    for r in cell.results:  # a check that several cells ran: any failure counts
        if by_check.get(r.check) != Outcome.FAIL.value:
            by_check[r.check] = r.outcome.value
    outcomes = tuple((k, by_check.get(k, Outcome.INFRA_ERROR.value)) for k in c.mutant.checks)
    also = tuple(sorted(k for k, o in by_check.items()
                        if o == Outcome.FAIL.value and k not in c.mutant.checks))
    return MutantResult(c.path.name, c.mutant.defect, c.mutant.scenario, c.mutant.checks,
                        outcomes, also, cell.reproduce)


def run(mutants: Sequence[Candidate], scenarios: Sequence[Scenario],
        run_cell: Callable[[Candidate, Scenario], CellResult],
        progress: Callable[[MutantResult], None] | None = None) -> list[MutantResult]:
    validate(mutants, scenarios)
    by_name = {s.name: s for s in scenarios}
    results = []
    for c in mutants:
        assert c.mutant is not None
        result = judge(c, run_cell(c, by_name[c.mutant.scenario]))
        results.append(result)
        if progress:
            progress(result)
    return results


def mutation_score(results: Sequence[MutantResult]) -> dict[str, Any]:
    judged = [r for r in results if r.judged]
    caught = [r for r in judged if r.caught]
    return {"mutants": len(results), "judged": len(judged), "caught": len(caught),
            "score": round(len(caught) / len(judged), 4) if judged else None,
            "survivors": [r.name for r in judged if not r.caught],
            "unjudged": [r.name for r in results if not r.judged]}
