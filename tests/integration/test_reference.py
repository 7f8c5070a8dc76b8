"""The reference engine passes every check of every scenario (the design intent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import api
from harness.manifest import resolve_candidates
from harness.model import Outcome
from harness.runners.local import LocalRunner
from harness.scoring import execution_score

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_reference_scores_ten_on_every_scenario() -> None:
    cand = resolve_candidates(["reference"], ROOT)
    run = api.score(cand, api.all_scenarios(), LocalRunner(), seed=11)
    failures = [(c.scenario, r.check, r.outcome.value, [e.to_json() for e in r.evidence], r.detail)
                for c in run.cells for r in c.results if r.outcome is not Outcome.PASS]
    assert failures == []
    assert execution_score([r for c in run.cells for r in c.results]) == 10.0
