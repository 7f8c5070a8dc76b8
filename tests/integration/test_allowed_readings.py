"""TASK.md v1.2 settles twelve points where the contract left engine authors guessing.
Where it leaves a choice to the engine, every allowed reading passes; where it rules a
reading out, a defect embodies it and its aimed checks fail; every point is placed in
one of the tables, or said to be judged by no check (tests/fixtures/defects.py).

Each allowed reading is the reference with its one choice made the other way
(tests/fixtures/broken_engine.py, READINGS); the checks aimed at it must pass, and no
check of its scenario may fail: a check that failed an allowed reading would be a false
failure derived from the reference's habits. A check the reading leaves unexercised
(not applicable) is no failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.model import Outcome
from tests.cellcache import LocalCells
from tests.fixtures.defects import (
    ALL_AIMED,
    ALLOWED,
    DISALLOWED,
    EXHAUSTIVE,
    NOT_JUDGED,
    broken,
)

SEED = 5
POINTS = range(1, 13)  # TASK.md, "Changes in v1.2": (1) to (12)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.exhaustive if n in EXHAUSTIVE else ())
    for n in sorted(ALLOWED)])
def test_an_allowed_reading_passes(tmp_path: Path, name: str, local_cells: LocalCells) -> None:
    reading = ALLOWED[name]
    scenario = api.all_scenarios(pattern=reading.scenario)[0]
    cell = local_cells(broken(tmp_path, name), scenario, SEED)
    by_check = {r.check: r for r in cell.results}
    assert not set(reading.checks) - set(by_check), sorted(by_check)
    not_passed = {c: (by_check[c].outcome.value,
                      [e.to_json() for e in by_check[c].evidence][:2])
                  for c in reading.checks if by_check[c].outcome is not Outcome.PASS}
    assert not_passed == {}, (reading.point, not_passed)
    failed = {r.check: [e.to_json() for e in r.evidence][:2]
              for r in cell.results if r.outcome is Outcome.FAIL}
    assert failed == {}, (reading.point, failed)


def test_each_disallowed_reading_is_an_aimed_defect() -> None:
    """The runs are tests/integration/test_checks_catch_defects.py's."""
    assert sorted(r.defect for r in DISALLOWED.values() if r.defect not in ALL_AIMED) == []


def test_no_reading_is_also_a_defect() -> None:
    assert sorted(set(ALLOWED) & set(ALL_AIMED)) == []
    assert sorted(EXHAUSTIVE - set(ALLOWED)) == []


def test_every_point_is_judged_or_said_not_to_be() -> None:
    placed = ({r.point for r in ALLOWED.values()} | {r.point for r in DISALLOWED.values()}
              | {n.point for n in NOT_JUDGED.values()})
    assert sorted(set(POINTS) - placed) == []
    assert sorted(placed - set(POINTS)) == []
