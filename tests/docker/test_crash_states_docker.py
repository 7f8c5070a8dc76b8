"""The reference passes every constructed crash state under Docker too (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.manifest import resolve_candidates
from harness.model import Outcome
from harness.runners.docker import DockerRunner

pytestmark = [pytest.mark.docker, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_passes_every_crash_state_under_docker(docker_runner: DockerRunner
                                                             ) -> None:
    [ref] = resolve_candidates(["reference"], ROOT)
    scenario = api.all_scenarios(pattern="crash-states")[0]
    result = api.run_cell(docker_runner, ref, scenario, 7)
    assert not result.infra_error, result.infra_error
    bad = [(r.check, r.outcome.value, r.evidence[:1]) for r in result.results
           if r.outcome is not Outcome.PASS]
    assert bad == []
    models = result.extra["crash_states"]["models"]
    assert set(models) == {"live", "prefix", "torn", "power_loss"}
    assert all(row["tried"] >= 2 and row["failed"] == 0 for row in models.values()), models
