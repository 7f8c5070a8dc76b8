"""The crash-states scenario run for real under the local runner (issue 13 items 3, 4).

The reference must pass every constructed crash state of every model, and the per-model
tally in its record must say so. The checks must fail by execution too: a mutant that
forgets successes on resume re-runs a step whose STEP_SUCCEEDED a state holds, and one
that crashes on a torn final line does not recover a torn state.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import api
from harness.manifest import resolve_candidates
from harness.model import CellResult, Outcome
from harness.runners.local import LocalRunner

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]
ROOT = Path(__file__).resolve().parents[2]
SEED = 7
SCENARIO = api.all_scenarios(pattern="crash-states")[0]


def cell(name: str) -> CellResult:
    [c] = resolve_candidates([name], ROOT)
    return api.run_cell(LocalRunner(), c, SCENARIO, SEED)


def test_the_reference_passes_every_crash_state_of_every_model() -> None:
    result = cell("reference")
    bad = [(r.check, r.outcome.value, r.evidence[:1]) for r in result.results
           if r.outcome is not Outcome.PASS]
    assert bad == []
    tally = result.extra["crash_states"]
    assert set(tally["models"]) == {"live", "prefix", "torn", "power_loss"}
    for model, row in tally["models"].items():
        assert row["tried"] >= 2 and row["failed"] == 0, (model, row)
        assert row["passed"] == row["tried"]
    assert "first_failing" not in tally
    assert result.extra["recordings"]["record"]["calls"] > 0
    plan = result.extra["crash_plan"]  # the live kills: data, chosen before any was struck
    indices = [p["index"] for p in plan["points"]]
    assert len(indices) == tally["models"]["live"]["tried"] and indices == sorted(indices)
    assert plan["total"] >= len(indices) and plan["seed"] >= 0


@pytest.mark.parametrize(("mutant", "aimed"), [
    ("mutants/rerun-succeeded", "states.no_rerun"),
    ("mutants/torn-tail-crash", "states.run_recovers"),
])
def test_a_mutant_that_breaks_recovery_fails_the_aimed_state_check(mutant: str,
                                                                    aimed: str) -> None:
    result = cell(mutant)
    outcome = {r.check: r for r in result.results}[aimed]
    assert outcome.outcome is Outcome.FAIL
    first = result.extra["crash_states"]["first_failing"]
    assert first["explanation"] and first["state"]
    assert any(ev.where.endswith(")") and "(" in ev.where for ev in outcome.evidence)
