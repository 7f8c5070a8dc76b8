"""The scoring layer: finished cells in, every score and verdict of a run out, as records.

`summarise` puts together what `scoring` (execution score, per-check verdicts, tally),
`intent` (the credited intent score, the capability matrix) and `profiles` (each
profile's score and its fatal caps) compute, for every candidate, from its
`CellResult`s. It is the one place that does: results.json serialises these records,
and every report reads what results.json says instead of judging the checks again.
It is pure: the cells may come from a run that just ended or from the results store,
in any order, and the records are frozen.

With trials (`harness score --trials K`), each trial's cells are also scored on their
own, exactly as a one-trial run would score them: the candidate's `score` is the mean of
those headline scores, with a Student-t interval (`stats.mean_interval`); a check's pass
rate counts one verdict per trial; a check that passed in some trials and failed in
others in the same scenario is flaky. Verdicts, matrix, tally and caps stay pooled over
every cell. With one trial, the mean is that trial's score, which is the pooled score.

Throughput figures (`harness.throughput`) are a candidate's measured speed and its ratio
to the run's yardstick (the reference's throughput cells, `Summary.yardstick`). They are
beside the scores, not in them: only a profile with a `speed_weight` reads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.intent import Intent, MatrixCell, credited, matrix
from harness.model import Candidate, CellResult, CheckResult, Outcome, Severity
from harness.profiles import Cap, Profiles, ProfileScore, score_all
from harness.scoring import execution_score, tally, verdict
from harness.stats import mean_interval
from harness.throughput import YARDSTICK, Throughput, speed_score, throughput_of


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
    credited: float | None  # None: not judged (no signals for the candidate's language)
    withheld: str  # why it is not credited or not judged ("" when it is credited)

    @property
    def signalled(self) -> float | None:
        return self.intent.score


@dataclass(frozen=True, slots=True)
class TrialScore:
    """One trial's cells of a candidate, scored as a run of that trial alone would be."""

    trial: int
    score: float | None  # the headline profile's score; None: nothing could be judged
    execution: float | None
    fatal_failed: bool  # a FATAL-severity check failed in this trial


@dataclass(frozen=True, slots=True)
class CheckRate:
    """How many trials a check passed and failed in (its verdict over that trial's
    scenarios); trials where it was not exercised or not judged are not counted."""

    check: str
    passed: int
    failed: int

    @property
    def rate(self) -> float | None:
        judged = self.passed + self.failed
        return self.passed / judged if judged else None


@dataclass(frozen=True, slots=True)
class Flaky:
    """A check that both passed and failed in one scenario, across the trials."""

    check: str
    scenario: str
    passed: int  # trials it passed in, in this scenario
    failed: int


@dataclass(frozen=True, slots=True)
class Trials:
    """A candidate's scores over its trials (one entry per trial, in trial order)."""

    per_trial: tuple[TrialScore, ...]
    mean: float | None  # of the per-trial scores that exist; None if none does
    interval: tuple[float, float] | None  # 95 %; None with one trial or < 2 scores
    rates: tuple[CheckRate, ...]  # one per check, sorted by check
    flaky: tuple[Flaky, ...]  # sorted by check, then scenario

    def rate(self, check: str) -> CheckRate | None:
        return next((r for r in self.rates if r.check == check), None)

    def flaky_checks(self) -> tuple[str, ...]:
        """The checks flaky in at least one scenario, each once, sorted."""
        return tuple(sorted({f.check for f in self.flaky}))


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
    trials: Trials
    throughput: Throughput | None = None  # None: no throughput cell of this candidate ran

    @property
    def name(self) -> str:
        return self.candidate.name

    def profile(self, name: str) -> ProfileScore:
        return next(p for p in self.profiles if p.profile == name)

    @property
    def score(self) -> float | None:
        """The headline score: its mean over the trials (with one trial, the headline
        profile's score over every cell)."""
        return self.trials.mean

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
    trials: int = 1  # trials planned per cell
    yardstick_name: str = YARDSTICK  # whose throughput cells the ratios divide by
    yardstick: Throughput | None = None  # its own figures; None: no throughput cell of it
    yardstick_scored: bool = False  # it is one of the candidates (else a cell of its own)

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


@dataclass(frozen=True, slots=True)
class _Judged:
    """A set of a candidate's cells judged: the pairs, execution, intent, every profile."""

    pairs: list[tuple[str, CheckResult]]
    execution: float | None
    intent: float | None
    withheld: str
    scores: Mapping[str, ProfileScore]


def _judge(c: Candidate, cells: Sequence[CellResult], intent: Intent,
           profiles: Profiles, speed: float | None = None) -> _Judged:
    pairs = [(cell.scenario, r) for cell in cells for r in cell.results]
    execution = execution_score(r for _, r in pairs)
    intent_score, withheld = credited(intent, steps_succeeded(cells))
    return _Judged(pairs, execution, intent_score, withheld,
                   score_all(profiles, execution, intent_score, pairs, c.claims, speed))


def score_candidate(c: Candidate, cells: Sequence[CellResult], intent: Intent,
                    profiles: Profiles, headline: str, trials: int = 1,
                    throughput: Throughput | None = None) -> CandidateScore:
    """One candidate's records from its own cells (of `trials` trials, or of more if the
    cells carry more); its throughput figures are scored only by a profile with a
    speed_weight."""
    speed = speed_score(throughput)
    j = _judge(c, cells, intent, profiles, speed)
    verdicts = check_verdicts(j.pairs)
    name = profiles.get(headline).name
    return CandidateScore(
        c, tuple(cells), j.execution, IntentScore(intent, j.intent, j.withheld),
        tuple(j.scores[p.name] for p in profiles.profiles), name,
        matrix(c.claims, intent, j.pairs), Tally.of(r for _, r in j.pairs), verdicts,
        score_trials(c, cells, intent, profiles, name, trials, verdicts, speed), throughput)


def trial_score(c: Candidate, trial: int, cells: Sequence[CellResult], intent: Intent,
                profiles: Profiles, headline: str, speed: float | None = None) -> TrialScore:
    """One trial's cells scored as the pooled score is, on those cells alone."""
    j = _judge(c, cells, intent, profiles, speed)
    fatal = any(r.severity is Severity.FATAL and r.outcome is Outcome.FAIL for _, r in j.pairs)
    return TrialScore(trial, j.scores[headline].score, j.execution, fatal)


def score_trials(c: Candidate, cells: Sequence[CellResult], intent: Intent, profiles: Profiles,
                 headline: str, trials: int, verdicts: Sequence[CheckVerdict],
                 speed: float | None = None) -> Trials:
    """Per-trial scores, their mean and interval, per-check pass rates and flaky checks."""
    by_trial: dict[int, list[CellResult]] = {t: [] for t in range(trials)}
    for cell in cells:
        by_trial.setdefault(cell.trial, []).append(cell)
    order = sorted(by_trial)
    per_trial = tuple(trial_score(c, t, by_trial[t], intent, profiles, headline, speed)
                      for t in order)
    scored = [t.score for t in per_trial if t.score is not None]
    # one score is kept as it is (no division), so one trial scores exactly as before
    mean = (scored[0] if len(scored) == 1 else math.fsum(scored) / len(scored)) if scored else None
    per_check: dict[str, list[Outcome]] = {}
    per_scenario: dict[tuple[str, str], list[Outcome]] = {}
    for t in order:
        trial_pairs = [(cell.scenario, r) for cell in by_trial[t] for r in cell.results]
        for v in check_verdicts(trial_pairs):
            per_check.setdefault(v.check, []).append(v.outcome)
            for scenario in dict.fromkeys(s for s, _ in v.runs):
                per_scenario.setdefault((v.check, scenario), []).append(
                    verdict(o for s, o in v.runs if s == scenario))
    rates = tuple(CheckRate(v.check, per_check.get(v.check, []).count(Outcome.PASS),
                            per_check.get(v.check, []).count(Outcome.FAIL))
                  for v in sorted(verdicts, key=lambda v: v.check))
    flaky = tuple(Flaky(check, scenario, o.count(Outcome.PASS), o.count(Outcome.FAIL))
                  for (check, scenario), o in sorted(per_scenario.items())
                  if Outcome.PASS in o and Outcome.FAIL in o)
    interval = mean_interval(scored) if len(order) > 1 else None
    return Trials(per_trial, mean, interval, rates, flaky)


def summarise(candidates: Sequence[Candidate], cells: Iterable[CellResult],
              intents: Mapping[str, Intent], profiles: Profiles, headline: str,
              trials: int = 1, yardstick: str = YARDSTICK) -> Summary:
    """Every candidate's scores from the run's cells (each cell goes to the candidate of
    its name; a cell of a candidate not listed is left out of the scores), over `trials`
    trials. The cells of the candidate named `yardstick`, listed or not, are what the
    throughput ratios divide by. An unknown headline profile is a UsageError, as on the
    command line."""
    name = profiles.get(headline).name
    by_name: dict[str, list[CellResult]] = {c.name: [] for c in candidates}
    yard: list[CellResult] = []
    for cell in cells:
        if cell.candidate in by_name:
            by_name[cell.candidate].append(cell)
        if cell.candidate == yardstick:
            yard.append(cell)
    return Summary(profiles, name, tuple(
        score_candidate(c, by_name[c.name], intents[c.name], profiles, name, trials,
                        throughput_of(by_name[c.name], yard, yardstick))
        for c in candidates), trials, yardstick, throughput_of(yard, yard, yardstick),
        yardstick in by_name)
