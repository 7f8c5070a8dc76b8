"""TASK.md v1.2, points 7-12: every reading the contract allows passes the checks aimed
at it, and every reading it rules out is a defect whose aimed checks fail
(tests/fixtures/readings_b.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.model import Outcome
from tests.cellcache import LocalCells
from tests.fixtures.defects import ALL_AIMED
from tests.fixtures.readings_b import ALLOWED, DISALLOWED, EXHAUSTIVE, allowed

SEED = 5


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.exhaustive if n in EXHAUSTIVE else ())
    for n in sorted(ALLOWED)])
def test_the_allowed_reading_passes(tmp_path: Path, name: str,
                                    local_cells: LocalCells) -> None:
    scenario_name, checks = ALLOWED[name]
    scenario = api.all_scenarios(pattern=scenario_name)[0]
    cell = local_cells(allowed(tmp_path, name), scenario, SEED)
    by_check = {r.check: r for r in cell.results}
    failed = {c: (by_check[c].outcome.value, [e.to_json() for e in by_check[c].evidence][:2])
              for c in checks if by_check[c].outcome is not Outcome.PASS}
    assert failed == {}, failed


def test_each_disallowed_reading_is_an_aimed_defect() -> None:
    """The runs are tests/integration/test_checks_catch_defects.py's."""
    assert sorted(d for d in DISALLOWED.values() if d not in ALL_AIMED) == []
