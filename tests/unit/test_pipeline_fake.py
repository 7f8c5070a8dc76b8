"""The pipeline (procedure, observation, checks, score) on a FakeRunner: no processes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness import api
from harness.model import Candidate, Outcome
from harness.report.results import build
from harness.runners.fake import FakeCell, FakeRunner

CAND = Candidate("fake", "none", "", ("engine",), frozenset(), Path("/nonexistent"))


def scenario(name: str):  # type: ignore[no-untyped-def]
    return api.all_scenarios(pattern=name)[0]


def strict(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
    """Refuses every workflow and every status, as the contract wants for these inputs."""
    return 2, b"", b"error: invalid workflow\n"


def lenient(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
    """Accepts anything: creates STATE_DIR and exits 0."""
    if args[0] == "run":
        Path(args[2]).mkdir(parents=True, exist_ok=True)
    return 0, b"", b""


def test_invalid_workflow_passes_a_strict_engine() -> None:
    cell = api.run_cell(FakeRunner(strict), CAND, scenario("invalid-workflow"), seed=3)
    assert [r.outcome for r in cell.results] == [Outcome.PASS] * 4
    assert "--scenario invalid-workflow --seed 3 --runner fake" in cell.reproduce


def test_invalid_workflow_fails_a_lenient_engine_with_evidence() -> None:
    cell = api.run_cell(FakeRunner(lenient), CAND, scenario("invalid-workflow"), seed=3)
    by_name = {r.check: r for r in cell.results}
    for name in ("inputs.invalid_rejected", "inputs.invalid_leaves_no_state",
                 "inputs.status_without_log"):
        assert by_name[name].outcome is Outcome.FAIL
        assert by_name[name].evidence and by_name[name].evidence[0].expected
    rejected = by_name["inputs.invalid_rejected"].evidence
    assert any("cycle" in e.where for e in rejected)


def test_results_json_keeps_its_stable_keys() -> None:
    cell = api.run_cell(FakeRunner(lenient), CAND, scenario("invalid-workflow"), seed=1)
    profiles, languages = api.scoring_data()
    doc = json.loads(json.dumps(build([CAND], [cell], seed=1, runner={"runner": "fake"},
                                      scenarios=["invalid-workflow"],
                                      intents=api.intents([CAND], languages),
                                      profiles=profiles, headline="design-first")))
    entry = doc["candidates"]["fake"]
    assert doc["schema_version"] == 2 and doc["headline_profile"] == "design-first"
    assert entry["execution_score"] == 3.75  # 3 of 8: files.regular holds, it planted no link
    assert entry["score"] == entry["profiles"]["design-first"]["score"]
    assert set(entry["profiles"]) == set(doc["profiles"]) >= {"execution-first", "balanced",
                                                              "design-first"}
    assert set(entry["profiles"]["balanced"]) >= {"score", "intent_weight", "fatal_cap",
                                                  "capped", "caps"}
    assert len(entry["matrix"]) == 13
    # language "none" has no signals: intent is not judged, never scored 0, and every
    # profile falls back to execution alone
    assert entry["intent_score"] is None and entry["intent"]["language_known"] is False
    assert entry["intent"]["withheld"] == "design intent not judged: no signals for none"
    assert {p["score"] for p in entry["profiles"].values()} == {3.75}
    assert entry["matrix"]["input_validation"]["state"] in ("claimed_refuted", "unclaimed_missing")
    check = entry["checks"][0]
    assert set(check) >= {"scenario", "check", "capability", "severity", "outcome", "evidence",
                          "reproduce"}
