"""Regressions and fixes between two scoring runs, per candidate and check.

Both runs are compared the way the execution score counts: once per check, failed if
it failed in any scenario. An infrastructure error on either side is not a change of
the candidate's, so it is listed apart and never as a regression or a fix; nor is a
check that was not exercised on one side (its fault never reached what it guards).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.doc import verdicts


@dataclass(frozen=True, slots=True)
class Change:
    candidate: str
    check: str
    before: str  # pass, fail, not_exercised, infra_error, or "" when it did not run then
    after: str
    kind: str  # regression, fix, infra, not_exercised, new, dropped


@dataclass(frozen=True, slots=True)
class ScoreDelta:
    candidate: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return round(self.after - self.before, 2)


@dataclass(frozen=True, slots=True)
class Diff:
    profile: str
    changes: tuple[Change, ...]
    scores: tuple[ScoreDelta, ...]
    added: tuple[str, ...]  # candidates only in the new run
    removed: tuple[str, ...]  # candidates only in the baseline

    def of_kind(self, kind: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == kind)


def _kind(before: str, after: str) -> str | None:
    if before == after:
        return None
    if not before:
        return "new"
    if not after:
        return "dropped"
    if "infra_error" in (before, after):
        return "infra"
    if "not_exercised" in (before, after):
        return "not_exercised"
    return "regression" if after == "fail" else "fix"


def diff(new: Mapping[str, Any], old: Mapping[str, Any]) -> Diff:
    """What changed from old (the baseline) to new, for candidates in both."""
    new_c, old_c = new["candidates"], old["candidates"]
    profile = new["headline_profile"]  # both scores under the same profile
    changes, scores = [], []
    for name in (n for n in new_c if n in old_c):
        after, before = verdicts(new_c[name]), verdicts(old_c[name])
        for check in sorted(set(after) | set(before)):
            a, b = after.get(check, ""), before.get(check, "")
            kind = _kind(b, a)
            if kind:
                changes.append(Change(name, check, b, a, kind))
        scores.append(ScoreDelta(name, old_c[name]["profiles"].get(profile, {}).get("score"),
                                 new_c[name]["profiles"][profile]["score"]))
    return Diff(profile, tuple(changes), tuple(scores), tuple(n for n in new_c if n not in old_c),
                tuple(n for n in old_c if n not in new_c))
