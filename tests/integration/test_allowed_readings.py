"""Where TASK.md (v1.2) leaves a choice to the engine, every allowed reading passes.

Each reading is the reference with its one choice made the other way
(tests/fixtures/broken_engine.py, ALLOWED in tests/fixtures/defects.py); the checks
aimed at it must pass, and no check of its scenario may fail: a check that failed an
allowed reading would be a false failure derived from the reference's habits."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.model import Outcome
from tests.cellcache import LocalCells
from tests.fixtures.defects import ALLOWED, broken

SEED = 5


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_an_allowed_reading_passes(tmp_path: Path, name: str, local_cells: LocalCells) -> None:
    scenario_name, checks = ALLOWED[name]
    scenario = api.all_scenarios(pattern=scenario_name)[0]
    cell = local_cells(broken(tmp_path, name), scenario, SEED)
    by_check = {r.check: r for r in cell.results}
    for check in checks:
        assert by_check[check].outcome is Outcome.PASS, (check, by_check[check])
    failed = [r for r in cell.results if r.outcome is Outcome.FAIL]
    assert failed == [], failed
