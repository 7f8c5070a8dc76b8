"""The report's view of trials: flaky checks, and the headline as a mean with its interval.

Plain data from a results.json's trial keys (`per_trial`, `score_interval`,
`check_rates`, `flaky`); a file from before trials has none, and gets empty views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.doc import flaky_rates


@dataclass(frozen=True, slots=True)
class FlakyView:
    """A check that passed in some trials and failed in others, in one scenario."""

    check: str
    scenario: str
    passed: int
    failed: int
    href: str  # to the check's failures

    @property
    def text(self) -> str:
        return f"{self.passed} of {self.passed + self.failed} trials passed"


def flaky_views(cand: Mapping[str, Any], hrefs: Mapping[str, str]) -> tuple[FlakyView, ...]:
    """Each flaky (check, scenario), linked to the check's failures (hrefs: check -> href)."""
    return tuple(FlakyView(str(f["check"]), str(f["scenario"]), int(f["passed"]),
                           int(f["failed"]), hrefs.get(str(f["check"]), ""))
                 for f in cand.get("flaky") or [])


def flaky_marks(cand: Mapping[str, Any]) -> dict[str, str]:
    """check -> "flaky: p of n trials passed", for each check flaky in some scenario."""
    return {c: f"flaky: {p} of {n} trials passed" for c, (p, n) in flaky_rates(cand).items()}


def trial_suffix(trial: int) -> str:
    """What sets a later trial's anchor apart (trial 0 keeps a one-trial run's anchors)."""
    return f"-t{trial}" if trial else ""


def half_width(cand: Mapping[str, Any]) -> float | None:
    """Half the width of the candidate's score interval; None when it has none."""
    lo_hi = cand.get("score_interval")
    return (lo_hi[1] - lo_hi[0]) / 2 if lo_hi else None


def mean_text(cand: Mapping[str, Any], pooled: str) -> tuple[str, float, str] | None:
    """With trials: the mean score ± half its interval, the mean, and a title saying
    what it is; None with one trial or no score."""
    k, mean = int(cand.get("trials") or 1), cand.get("score")
    if k < 2 or not isinstance(mean, int | float) or isinstance(mean, bool):
        return None
    lo_hi = cand.get("score_interval")
    half = half_width(cand)
    text = f"{mean:.2f}" + (f" \u00b1 {half:.2f}" if half is not None else "")
    where = (f"95% interval [{lo_hi[0]:.2f}, {lo_hi[1]:.2f}]" if lo_hi
             else "no interval: fewer than two trials had a score")
    return (text, float(mean),
            f"mean of {k} trials, {where}; over every trial's cells at once: {pooled}")
