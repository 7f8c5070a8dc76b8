"""A study: one scoring run's plan, its results store, and the files rendered from it.

The score command plans cells, runs the ones its store does not hold yet, and commits
each as it ends (`harness.store`). Everything a reader sees is rendered from the store
by `Study.render`: results.json (through the scoring layer, `harness.summary`, which
`results.build` serialises), then index.html, results.csv and junit.xml, each written
atomically. It renders at the start of a run too, marked incomplete, so that a run
killed later never leaves an earlier run's files looking like its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cells import CellSpec
from harness.errors import HarnessError, InfraError
from harness.model import Candidate, CellResult
from harness.profiles import Profiles
from harness.report.results import build, write_results
from harness.report.write import write_report
from harness.store import Store
from harness.suites import Coverage
from harness.throughput import YARDSTICK


class Study:
    """One scoring run's plan and its store: renders results.json and the reports from
    the store's cells (in plan order), at the start and at the end of the run."""

    def __init__(self, candidates: list[Candidate], specs: list[CellSpec], store: Store,
                 target: Path, seed: int, facts: dict[str, Any], why: str,
                 scenarios: list[str], intents: dict[str, Any], profiles: Profiles,
                 headline: str, trials: int = 1, yardstick: str = YARDSTICK,
                 coverage: Coverage | None = None) -> None:
        self.candidates, self.specs, self.store, self.target = candidates, specs, store, target
        self.seed, self.facts, self.why, self.scenarios = seed, facts, why, scenarios
        self.intents, self.profiles, self.headline = intents, profiles, headline
        self.trials, self.yardstick, self.coverage = trials, yardstick, coverage
        self.executor: dict[str, Any] | None = None
        self.written = ""
        self.rendered: list[CellResult] = []  # the cells the last render was made from

    def finished(self) -> list[CellResult]:
        """The store's cells of this plan, in plan order, named as this run names them (a
        cell kept from an earlier run of the same content may have had another name)."""
        stored = self.store.cells(s.key for s in self.specs)
        return [replace(stored[s.key], candidate=s.candidate.name, scenario=s.scenario.name,
                        reproduce=s.reproduce)
                for s in self.specs if s.key in stored]

    def render(self, stopped: str, base: dict[str, Any] | None = None,
               baseline: Path | None = None) -> dict[str, Any]:
        finished = self.rendered = self.finished()
        doc = build(self.candidates, finished, seed=self.seed,
                    runner={**self.facts, "why": self.why}, scenarios=self.scenarios,
                    intents=self.intents, profiles=self.profiles, headline=self.headline,
                    stopped=stopped, executor=self.executor, trials=self.trials,
                    yardstick=self.yardstick, coverage=self.coverage)
        self.written = write_all(doc, self.target, base, baseline, stopped or None)
        return doc


def write_all(doc: dict[str, Any], target: Path, base: dict[str, Any] | None,
              baseline: Path | None, stopped: str | None) -> str:
    """Write results.json and the report; a sentence saying what was written."""
    try:
        write_results(target / "results.json", doc)
        written = write_report(doc, target, base, str(baseline) if baseline else "")
    except (OSError, HarnessError) as exc:
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InfraError(f"cannot write the results to {target}: {what}") from None
    files = (f"{target / 'results.json'}, {written.html.name}, {written.csv.name},"
             f" {written.junit.name}")
    if stopped is None:
        return f"wrote {files}"
    n = sum(len(c["cells"]) for c in doc["candidates"].values())
    return f"wrote the {n} finished cell(s) to {files} (marked incomplete)"
