"""Verdict parity: the Docker and the local runner agree on every check.

Scenarios and checks only see the Runner interface, so the same candidate must get the
same outcome on every check under both runners: the reference on every scenario, and
each broken fixture engine on the scenario aimed at its defect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.manifest import resolve_candidates
from harness.model import Candidate, CellResult, Outcome, Scenario
from harness.runners.docker import DockerRunner
from harness.runners.local import LocalRunner
from tests.fixtures.defects import AIMED, broken

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SEED = 5


def outcomes(cell: CellResult) -> dict[str, str]:
    assert not cell.infra_error, cell.infra_error
    return {r.check: r.outcome.value for r in cell.results}


def named(name: str) -> Scenario:
    return next(s for s in api.all_scenarios() if s.name == name)


def agree(cand: Candidate, scenario: Scenario, docker_runner: DockerRunner) -> dict[str, str]:
    local = api.run_cell(LocalRunner(), cand, scenario, SEED)
    dock = api.run_cell(docker_runner, cand, scenario, SEED)
    assert dock.runner == "docker" and dock.extra["sandbox"]["image"].startswith("sha256:")
    assert outcomes(dock) == outcomes(local), [
        (r.check, r.outcome.value, [e.to_json() for e in r.evidence]) for r in
        (*local.results, *dock.results) if r.outcome is not Outcome.PASS]
    return outcomes(dock)


@pytest.mark.parametrize("scenario", [s.name for s in api.all_scenarios()])
def test_reference_passes_everything_under_both(scenario: str, docker_runner: DockerRunner) -> None:
    cand = resolve_candidates(["reference"], ROOT)[0]
    got = agree(cand, named(scenario), docker_runner)
    assert set(got.values()) == {"pass"}


@pytest.mark.parametrize("name", sorted(AIMED))
def test_each_defect_gets_the_same_verdicts(tmp_path: Path, name: str,
                                            docker_runner: DockerRunner) -> None:
    scenario_name, checks = AIMED[name]
    got = agree(broken(tmp_path, name), named(scenario_name), docker_runner)
    assert all(got[c] == "fail" for c in checks), got
