"""CI gates on a finished run: a score floor (--fail-under) and no new regressions
(--fail-on-regression, against a --baseline results.json).

Pure: each gate reads results documents and returns what it found, and the CLI decides
the exit code. A regression is a check that passed in the baseline and fails now, per
candidate and judged once per check over its scenarios, as the execution score judges
it (`harness.report.baseline.diff`). A check that is flaky in either run (it passed in
some trials and failed in others) is reported and not gated: its failure now may be
the same coin that landed the other way then. Checks that only met infrastructure
errors, or were not exercised, on either side are not regressions either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.baseline import Change, diff
from harness.report.doc import flaky_rates
from harness.suites import coverage_of


@dataclass(frozen=True, slots=True)
class Regression:
    change: Change
    scenarios: tuple[str, ...]  # where it fails now
    flaky: str = ""  # "" or why it is not gated ("flaky now: 3 of 5 trials passed")

    def says(self) -> str:
        where = f" (fails in {', '.join(self.scenarios)})" if self.scenarios else ""
        return f"{self.change.candidate}: {self.change.check}{where}" + (
            f" [{self.flaky}; not gated]" if self.flaky else "")


def _failing(cand: Mapping[str, Any], check: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(c["scenario"]) for c in cand["checks"]
                               if c["check"] == check and c["outcome"] == "fail"))


def _flaky(new: Mapping[str, Any], old: Mapping[str, Any], check: str) -> str:
    for when, cand in (("now", new), ("in the baseline", old)):
        rate = flaky_rates(cand).get(check)
        if rate is not None:
            return f"flaky {when}: {rate[0]} of {rate[1]} trials passed"
    return ""


def regressions(doc: Mapping[str, Any], base: Mapping[str, Any]) -> list[Regression]:
    """Every check that passed in `base` and fails in `doc`, for candidates in both."""
    found = []
    for change in diff(doc, base).of_kind("regression"):
        new, old = doc["candidates"][change.candidate], base["candidates"][change.candidate]
        found.append(Regression(change, _failing(new, change.check),
                                _flaky(new, old, change.check)))
    return found


def gated(found: list[Regression]) -> list[Regression]:
    return [r for r in found if not r.flaky]


def below(doc: Mapping[str, Any], floor: float) -> list[str]:
    """The candidates whose headline score is under `floor` (or has none)."""
    return [n for n, c in doc["candidates"].items() if c["score"] is None or c["score"] < floor]


def measured_on(doc: Mapping[str, Any]) -> str:
    """What a run's scores were measured on: 'headline profile, all 15 scenarios' or
    '..., partial: 6 of 15 scenarios (--suite quick)'."""
    return f"{doc['headline_profile']}, {coverage_of(doc).says()}"
