"""Each scenario catches the defect it targets: a check that nothing can make fail is
not a check. Every defect is the reference with one behaviour broken
(tests/fixtures/broken_engine.py); the check aimed at it must fail, with evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.checks import REGISTRY, load_all
from harness.model import Outcome
from tests.cellcache import LocalCells
from tests.fixtures.defects import AIMED, ALL_AIMED, broken

SEED = 5


def test_every_check_is_aimed_at_by_some_defect() -> None:
    """By a fixture defect or by a shipped mutant (tests/integration/test_mutants.py)."""
    aimed = {c for _, checks in ALL_AIMED.values() for c in checks}
    assert sorted(set(load_all()) - aimed) == []


@pytest.mark.parametrize("name", sorted(AIMED))
def test_the_aimed_check_fails_with_evidence(tmp_path: Path, name: str,
                                             local_cells: LocalCells) -> None:
    scenario_name, checks = AIMED[name]
    scenario = api.all_scenarios(pattern=scenario_name)[0]
    cell = local_cells(broken(tmp_path, name), scenario, SEED)  # test_parity reads it too
    by_check = {r.check: r for r in cell.results}
    for check in checks:
        result = by_check[check]
        assert result.outcome is Outcome.FAIL, (check, result)
        assert result.evidence, check
        ev = result.evidence[0]
        assert ev.expected and ev.seen and ev.where
    assert REGISTRY  # the registry is populated by all_scenarios()
