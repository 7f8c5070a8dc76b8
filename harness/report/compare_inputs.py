"""The runs `harness compare` merges: found, validated, and checked to be comparable.

Every input is a run folder (holding results.json) or a results.json, read with the
report's loader, so a malformed one is a `ReportInputError` (exit 2) naming it. Runs are
comparable when they agree on what makes a score mean the same thing: the harness
version, the scenario set (order aside), the trials per candidate (pass@k of "scores 10
in every trial" is stricter with more trials), the headline profile, and being complete
(an incomplete run's scores are of the cells it finished). A difference is refused,
naming it, unless the user allows mixed runs; then it is a warning carried to the page.
A candidate name found in two runs is always refused: counted twice, one candidate would
weigh double in its group, and its trials would pass for independent samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.report import doc as results_doc
from harness.suites import coverage_of


@dataclass(frozen=True, slots=True)
class Run:
    path: Path  # its results.json, absolute
    doc: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.path.parent


def results_path(arg: Path) -> Path:
    """The results.json an argument names: itself, or the one inside a folder."""
    return (arg / "results.json" if arg.is_dir() else arg).absolute()


def load(args: Sequence[Path]) -> list[Run]:
    """Each argument's run, validated; ReportInputError naming the first malformed one."""
    if not args:
        raise UsageError("name at least one run folder or results.json to compare")
    runs = [Run(p, results_doc.load(p)) for p in map(results_path, args)]
    seen: dict[Path, Path] = {}
    for run in runs:
        real = run.path.resolve()
        if real in seen:
            raise UsageError(f"{run.path} is named twice (also as {seen[real]})")
        seen[real] = run.path
    return runs


FACETS: tuple[tuple[str, Callable[[dict[str, Any]], object]], ...] = (
    ("harness_version", lambda d: d.get("harness_version", "unknown")),
    ("scenarios", lambda d: ", ".join(sorted(map(str, d["scenarios"])))),
    ("trials", lambda d: d.get("trials", 1)),
    ("headline_profile", lambda d: d["headline_profile"]),
)


def differences(runs: Sequence[Run]) -> list[str]:
    """Each way the runs are not comparable, one sentence each, naming the runs."""
    found = []
    first = runs[0]
    for facet, get in FACETS:
        for run in runs[1:]:
            if get(run.doc) != get(first.doc):
                found.append(f"{facet} differs: {get(first.doc)!s} in {first.path},"
                             f" {get(run.doc)!s} in {run.path}")
                break
    found += [f"{run.path} is incomplete (stopped: {run.doc.get('stopped', 'unknown')}):"
              " its scores are of the cells it finished" for run in runs
              if run.doc.get("complete") is False]
    return found


def partial(runs: Sequence[Run]) -> list[str]:
    """A sentence for each partial run: comparable with runs of the same scenarios only,
    which `differences` holds them to, but never to be quoted as a full-suite score."""
    return [f"{run.path} is a partial run ({coverage_of(run.doc).says()}): its scores judge"
            " those scenarios only" for run in runs if coverage_of(run.doc).partial]


def check(runs: Sequence[Run], allow_mixed: bool) -> list[str]:
    """The differences allowed (as warnings); UsageError on the first one not allowed, and
    on a candidate name found in two runs."""
    where: dict[str, Path] = {}
    for run in runs:
        for name in run.doc["candidates"]:
            if name in where:
                raise UsageError(f"candidate {name!r} is in {where[name]} and in {run.path}:"
                                 " counted twice it would weigh double in its group; compare"
                                 " each candidate once (leave a run out, or rename one)")
            where[name] = run.path
    found = differences(runs)
    if found and not allow_mixed:
        raise UsageError(f"runs not comparable: {found[0]}"
                         + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
                         + "; --allow-mixed compares them anyway")
    return found + partial(runs)
