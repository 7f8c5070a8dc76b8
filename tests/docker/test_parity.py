"""Verdict parity: the Docker and the local runner agree on every check.

Scenarios and checks only see the Runner interface, so the same candidate must get the
same outcome on every check under both runners: the reference on every scenario (every
check passes under both), and each broken fixture engine on the scenario aimed at its
defect (the aimed checks fail under both).

A broken engine's other checks may depend on where a seeded fault lands (a kill "after
0.7 s" lands at a different event on every run, on either runner), so one run each
cannot tell a runner's doing from the engine's. Where they differ, both runners run the
cell twice more: parity holds when each runner is seen to give the other's outcome too;
a difference that stays on one side in all three runs fails the test.

Every defect is judged under Docker by `make test-all`; `make test` takes a covering set
(every scenario and every check family some defect is aimed at, `covering`), marking the
rest `exhaustive`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.manifest import resolve_candidates
from harness.model import Candidate, CellResult, Scenario
from harness.runners.docker import DockerRunner
from harness.runners.local import LocalRunner
from tests.cellcache import LocalCells
from tests.fixtures.defects import ALL_AIMED, broken

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SEED = 5


def outcomes(cell: CellResult) -> dict[str, str]:
    assert not cell.infra_error, cell.infra_error
    return {r.check: r.outcome.value for r in cell.results}


def named(name: str) -> Scenario:
    return next(s for s in api.all_scenarios() if s.name == name)


def both(cand: Candidate, scenario: Scenario, docker_runner: DockerRunner,
         local_cells: LocalCells | None = None) -> tuple[CellResult, CellResult]:
    """Both runners' cells; the local one read from local_cells when given (the session's
    run of that very cell, which the local-runner tests judge too), else run afresh."""
    local = (local_cells(cand, scenario, SEED) if local_cells is not None
             else api.run_cell(LocalRunner(), cand, scenario, SEED))
    dock = api.run_cell(docker_runner, cand, scenario, SEED)
    assert dock.runner == "docker" and dock.extra["sandbox"]["image"].startswith("sha256:")
    return local, dock


def agree(cand: Candidate, scenario: Scenario, docker_runner: DockerRunner,
          local_cells: LocalCells, reruns: int = 2) -> tuple[dict[str, str], dict[str, str]]:
    """Both runners' outcomes of the first run; fails on a difference that stays."""
    local, dock = both(cand, scenario, docker_runner, local_cells)
    first = outcomes(local), outcomes(dock)
    differ = {c for c in first[0] if first[0][c] != first[1][c]}
    seen = {c: ({first[0][c]}, {first[1][c]}) for c in differ}
    for _ in range(reruns if differ else 0):
        more = both(cand, scenario, docker_runner)
        for c in differ:
            seen[c][0].add(outcomes(more[0])[c])
            seen[c][1].add(outcomes(more[1])[c])
    stays = {c: {"local": sorted(seen[c][0]), "docker": sorted(seen[c][1])}
             for c in differ if not seen[c][0] & seen[c][1]}
    assert stays == {}, (stays, [(r.check, r.outcome.value, [e.to_json() for e in r.evidence])
                                 for r in (*local.results, *dock.results)
                                 if r.check in stays])
    return first


@pytest.mark.parametrize("scenario", [s.name for s in api.all_scenarios()])
def test_reference_passes_everything_under_both(scenario: str, docker_runner: DockerRunner,
                                                local_cells: LocalCells) -> None:
    cand = resolve_candidates(["reference"], ROOT)[0]
    if not named(scenario).checks:  # throughput only measures: figures under both, no outcome
        cells = both(cand, named(scenario), docker_runner, local_cells)
        figures = [(c.runner, k, f["value"], f["why"]) for c in cells
                   for k, f in c.extra["measures"].items()]
        assert len(figures) == 4 and all(v and v > 0 for _, _, v, _ in figures), figures
        return
    local, dock = agree(cand, named(scenario), docker_runner, local_cells, reruns=0)
    assert set(local.values()) == set(dock.values()) == {"pass"}, (local, dock)


def covering(aimed: dict[str, tuple[str, tuple[str, ...]]]) -> set[str]:
    """Defects that, together, aim at every scenario and every check family: picked
    greedily (the one covering most of what is left; ties by name), so the choice is
    fixed by the table alone."""
    def covers(name: str) -> set[tuple[str, str]]:
        scenario, checks = aimed[name]
        return {("scenario", scenario)} | {("family", c.split(".")[0]) for c in checks}

    left = set().union(*(covers(n) for n in aimed))
    chosen: set[str] = set()
    while left:
        best = max(sorted(aimed), key=lambda n: len(covers(n) & left))
        chosen.add(best)
        left -= covers(best)
    return chosen


# Every defect under Docker takes about 25 s (55 of them: a third of the suite's time),
# and a runner's difference shows per scenario and per check family, not per defect:
# `make test` runs a covering set, `make test-all` every defect.
COVERING = covering(ALL_AIMED)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n in COVERING else pytest.mark.exhaustive)
    for n in sorted(ALL_AIMED)])
def test_each_defect_gets_the_same_verdicts(tmp_path: Path, name: str,
                                            docker_runner: DockerRunner,
                                            local_cells: LocalCells) -> None:
    scenario_name, checks = ALL_AIMED[name]
    local, dock = agree(broken(tmp_path, name), named(scenario_name), docker_runner,
                        local_cells)
    for check in checks:
        assert local[check] == dock[check] == "fail", (check, local, dock)
