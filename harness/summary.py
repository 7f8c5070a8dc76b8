"""The scoring layer: finished cells in, every score and verdict of a run out, as records.

`summarise` puts together what `scoring` (execution score, per-check verdicts, tally),
`intent` (the credited intent score, the capability matrix) and `profiles` (each
profile's score and its fatal caps) compute, for every candidate, from its
`CellResult`s. It is the one place that does: results.json serialises these records,
and every report reads what results.json says instead of judging the checks again.
It is pure: the cells may come from a run that just ended or from the results store,
in any order, and the records are frozen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.intent import Intent, MatrixCell, credited, matrix
from harness.model import Candidate, CellResult, CheckResult, Outcome, Severity
from harness.profiles import Cap, Profiles, ProfileScore, score_all
from harness.scoring import execution_score, tally, verdict


@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """One check over every scenario that ran it, judged once (`scoring.verdict`)."""

    check: str
    capability: str
    severity: Severity
    outcome: Outcome
    runs: tuple[tuple[str, Outcome], ...]  # (scenario, outcome), in the order the cells came

    def scenarios(self, outcome: Outcome) -> tuple[str, ...]:
        """The scenarios where it had this outcome, each once, in order."""
        return tuple(dict.fromkeys(s for s, o in self.runs if o is outcome))


@dataclass(frozen=True, slots=True)
class Tally:
    """Scenario x check outcomes counted one by one (not once per check)."""

    passed: int = 0
    failed: int = 0
    infra_error: int = 0
    not_exercised: int = 0

    @classmethod
    def of(cls, results: Iterable[CheckResult]) -> Tally:
        n = tally(results)
        return cls(n[Outcome.PASS.value], n[Outcome.FAIL.value], n[Outcome.INFRA_ERROR.value],
                   n[Outcome.NOT_EXERCISED.value])

    def count(self, outcome: Outcome) -> int:
        return {Outcome.PASS: self.passed, Outcome.FAIL: self.failed,
                Outcome.INFRA_ERROR: self.infra_error,
                Outcome.NOT_EXERCISED: self.not_exercised}[outcome]


@dataclass(frozen=True, slots=True)
class IntentScore:
    """Design intent as found in the source, and what of it is credited."""

    intent: Intent
    credited: float
    withheld: str  # why it is not credited ("" when it is)

    @property
    def signalled(self) -> float:
        return self.intent.score


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """Everything a run concluded about one candidate."""

    candidate: Candidate
    cells: tuple[CellResult, ...]
    execution: float | None  # None: not one check could be judged
    intent: IntentScore
    profiles: tuple[ProfileScore, ...]  # in the profiles file's order
    headline: str
    matrix: tuple[MatrixCell, ...]  # one per capability, in CAPABILITIES order
    tally: Tally
    verdicts: tuple[CheckVerdict, ...]  # one per check, in the order first seen

    @property
    def name(self) -> str:
        return self.candidate.name

    def profile(self, name: str) -> ProfileScore:
        return next(p for p in self.profiles if p.profile == name)

    @property
    def score(self) -> float | None:
        """The headline profile's score."""
        return self.profile(self.headline).score

    @property
    def caps(self) -> tuple[Cap, ...]:
        """Why its scores are capped (the same failures cap every profile); () if not."""
        return self.profiles[0].caps if self.profiles else ()

    def verdict(self, check: str) -> CheckVerdict | None:
        return next((v for v in self.verdicts if v.check == check), None)


@dataclass(frozen=True, slots=True)
class Summary:
    """A run's scores: its candidates, in the order given, under one headline profile."""

    profiles: Profiles
    headline: str
    candidates: tuple[CandidateScore, ...]

    def candidate(self, name: str) -> CandidateScore:
        return next(c for c in self.candidates if c.name == name)


def check_verdicts(results: Iterable[tuple[str, CheckResult]]) -> tuple[CheckVerdict, ...]:
    """Each check once, from (scenario, check result) pairs: its severity and capability
    as first seen, and its `scoring.verdict` over every scenario that ran it."""
    first: dict[str, CheckResult] = {}
    runs: dict[str, list[tuple[str, Outcome]]] = {}
    for scenario, r in results:
        first.setdefault(r.check, r)
        runs.setdefault(r.check, []).append((scenario, r.outcome))
    return tuple(CheckVerdict(c, first[c].capability, first[c].severity,
                              verdict(o for _, o in ran), tuple(ran)) for c, ran in runs.items())


def steps_succeeded(cells: Iterable[CellResult]) -> list[int]:
    """Per judged cell, how many of its workflow's steps ran to success (probes' audit)."""
    return [int(cell.extra["steps_succeeded"]) for cell in cells if "steps_succeeded" in cell.extra]


def score_candidate(c: Candidate, cells: Sequence[CellResult], intent: Intent,
                    profiles: Profiles, headline: str) -> CandidateScore:
    """One candidate's records from its own cells."""
    pairs = [(cell.scenario, r) for cell in cells for r in cell.results]
    results = [r for _, r in pairs]
    execution = execution_score(results)
    intent_score, withheld = credited(intent, steps_succeeded(cells))
    scores = score_all(profiles, execution, intent_score, pairs, c.claims)
    return CandidateScore(
        c, tuple(cells), execution, IntentScore(intent, intent_score, withheld),
        tuple(scores[p.name] for p in profiles.profiles), profiles.get(headline).name,
        matrix(c.claims, intent, pairs), Tally.of(results), check_verdicts(pairs))


def summarise(candidates: Sequence[Candidate], cells: Iterable[CellResult],
              intents: Mapping[str, Intent], profiles: Profiles, headline: str) -> Summary:
    """Every candidate's scores from the run's cells (each cell goes to the candidate of
    its name; a cell of a candidate not listed is left out). An unknown headline profile
    is a UsageError, as on the command line."""
    name = profiles.get(headline).name
    by_name: dict[str, list[CellResult]] = {c.name: [] for c in candidates}
    for cell in cells:
        if cell.candidate in by_name:
            by_name[cell.candidate].append(cell)
    return Summary(profiles, name, tuple(
        score_candidate(c, by_name[c.name], intents[c.name], profiles, name)
        for c in candidates))
