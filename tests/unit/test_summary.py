"""Unit tests for the scoring layer (harness.summary): a run's cells in, typed records out,
and results.json and the reports saying what those records say."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import api
from harness.errors import ReportInputError, UsageError
from harness.intent import NO_STEP_RAN, Cell, Hit, Intent
from harness.model import CAPABILITIES, Candidate, CellResult, CheckResult, Outcome, Severity
from harness.report import doc as results_doc
from harness.report import junit, view
from harness.report.baseline import diff
from harness.report.results import build
from harness.runners.fake import FakeCell, FakeRunner
from harness.summary import CheckVerdict, Summary, Tally, summarise

PROFILES, LANGUAGES = api.scoring_data()
CLAIMS = frozenset({"durable_log", "input_validation"})
ENGINE = Candidate("engine", "none", "", ("engine",), CLAIMS, Path("/nonexistent"))
OTHER = Candidate("other", "none", "", ("engine",), frozenset(), Path("/nonexistent"))
NO_INTENT = {"engine": Intent(False, (), CLAIMS), "other": Intent(False, (), frozenset())}

APPEND = ("log.append_only", "durable_log", Severity.FATAL)
REJECT = ("inputs.invalid_rejected", "input_validation", Severity.MAJOR)
RETRY = ("retry.bounded", "retries", Severity.MINOR)


def cell(scenario: str, *results: tuple[tuple[str, str, Severity], Outcome],
         candidate: str = "engine", steps: int = 1) -> CellResult:
    return CellResult(candidate, scenario, 1, "fake",
                      tuple(CheckResult(c, cap, sev, o) for (c, cap, sev), o in results),
                      f"harness score {candidate} --scenario {scenario}", 1.0,
                      extra={"steps_succeeded": steps})


CELLS = (
    cell("crash-loop", (APPEND, Outcome.PASS), (RETRY, Outcome.NOT_EXERCISED)),
    cell("torn-tail", (APPEND, Outcome.FAIL), (REJECT, Outcome.PASS)),
    cell("invalid-workflow", (REJECT, Outcome.PASS), (RETRY, Outcome.PASS)),
    cell("daemon-gone", (APPEND, Outcome.INFRA_ERROR), (REJECT, Outcome.INFRA_ERROR)),
    cell("crash-loop", (APPEND, Outcome.FAIL), candidate="other"),
)


def summary(cells: Sequence[CellResult] = CELLS, headline: str = "balanced") -> Summary:
    return summarise([ENGINE, OTHER], cells, NO_INTENT, PROFILES, headline)


def test_each_check_is_judged_once_over_its_scenarios() -> None:
    engine = summary().candidate("engine")
    assert [(v.check, v.severity, v.outcome) for v in engine.verdicts] == [
        ("log.append_only", Severity.FATAL, Outcome.FAIL),
        ("retry.bounded", Severity.MINOR, Outcome.PASS),
        ("inputs.invalid_rejected", Severity.MAJOR, Outcome.PASS)]
    append = engine.verdict("log.append_only")
    assert append is not None and append.capability == "durable_log"
    assert append.scenarios(Outcome.FAIL) == ("torn-tail",)
    assert append.scenarios(Outcome.INFRA_ERROR) == ("daemon-gone",)
    assert engine.verdict("no.such_check") is None


def test_scores_tally_and_matrix_of_a_candidate() -> None:
    engine = summary().candidate("engine")
    assert engine.execution == pytest.approx(10 * 3 / 6, abs=0.01)  # append_only (3) failed
    assert engine.tally == Tally(passed=4, failed=1, infra_error=2, not_exercised=1)
    assert engine.tally.count(Outcome.INFRA_ERROR) == 2
    assert [c.candidate for c in engine.cells] == ["engine"] * 4  # the other's cell is not its
    states = {m.capability: m.state for m in engine.matrix}
    assert len(engine.matrix) == len(CAPABILITIES)
    assert states["durable_log"] is Cell.CLAIMED_REFUTED
    assert states["input_validation"] is Cell.CLAIMED_VERIFIED
    assert states["retries"] is Cell.UNCLAIMED_VERIFIED


def test_a_failed_fatal_check_of_a_claimed_core_capability_caps_every_profile() -> None:
    s = summary()
    engine, other = s.candidate("engine"), s.candidate("other")
    assert [p.profile for p in engine.profiles] == PROFILES.names
    assert all(p.capped for p in engine.profiles)
    assert [(c.check, c.scenario) for c in engine.caps] == [("log.append_only", "torn-tail")]
    assert "log.append_only (fatal) failed in torn-tail" in engine.caps[0].reason
    balanced = PROFILES.get("balanced")
    assert engine.score == engine.profile("balanced").score == pytest.approx(
        (1 - balanced.intent_weight) * 5.0 * balanced.fatal_cap / 10, abs=0.01)
    assert other.execution == 0.0 and not other.caps  # it does not claim durable_log
    assert s.headline == "balanced" and summary(headline="design-first").candidate(
        "engine").score == engine.profile("design-first").score


def test_intent_is_withheld_from_code_that_ran_no_step() -> None:
    hits = (Hit("durable_log", "e.py", 1, "os.fsync(fd)", "fsync"),)
    intents = {"engine": Intent(True, hits, CLAIMS), "other": Intent(True, hits, frozenset())}
    idle = [cell(c.scenario, *(((r.check, r.capability, r.severity), r.outcome)
                                for r in c.results), steps=0) for c in CELLS[:4]]
    engine = summarise([ENGINE], idle, intents, PROFILES, "balanced").candidate("engine")
    assert engine.intent.signalled > 0 and engine.intent.credited == 0.0
    assert engine.intent.withheld == NO_STEP_RAN
    ran = summarise([ENGINE], CELLS, intents, PROFILES, "balanced").candidate("engine")
    assert ran.intent.credited == ran.intent.signalled > 0 and ran.intent.withheld == ""


def test_a_candidate_without_cells_has_no_score_rather_than_a_made_up_one() -> None:
    lone = summarise([ENGINE], [], NO_INTENT, PROFILES, "balanced").candidate("engine")
    assert lone.execution is None and lone.score is None and lone.verdicts == ()
    assert lone.tally == Tally()


def test_an_unknown_headline_profile_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no such profile"):
        summary(headline="nonsense")


@settings(max_examples=50)
@given(st.permutations(CELLS))
def test_the_order_cells_finish_in_changes_no_score(cells: list[CellResult]) -> None:
    def judged(s: Summary) -> list[Any]:
        return [(c.name, c.execution, c.score, c.tally, c.matrix, c.caps,
                 {v.check: (v.outcome, sorted(v.runs, key=repr)) for v in c.verdicts})
                for c in s.candidates]

    assert judged(summary(cells)) == judged(summary())


# results.json and the reports say what the records say


def strict(args: Sequence[str], fake: FakeCell) -> tuple[int, bytes, bytes]:
    return 2, b"", b"error: invalid workflow\n"


def lenient(args: Sequence[str], fake: FakeCell) -> tuple[int, bytes, bytes]:
    if args[0] == "run":
        Path(args[2]).mkdir(parents=True, exist_ok=True)
    return 0, b"", b""


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    cands = [ENGINE, OTHER]
    cells = [*CELLS, *(api.run_cell(FakeRunner(fn), c, s, seed=1)
                       for s in api.all_scenarios(pattern="invalid-workflow")
                       for c, fn in ((ENGINE, lenient), (OTHER, strict)))]
    out = build(cands, cells, seed=1, runner={"runner": "fake"}, scenarios=["x"],
                intents=NO_INTENT, profiles=PROFILES, headline="balanced",
                executor={"executor": "pool", "workers": 2})
    return results_doc.validate(json.loads(json.dumps(out)), "test")


def test_results_json_serialises_the_records(doc: dict[str, Any]) -> None:
    s = summary()
    assert doc["executor"] == {"executor": "pool", "workers": 2}
    engine = doc["candidates"]["engine"]
    assert engine["verdicts"]["log.append_only"] == {
        "capability": "durable_log", "severity": "fatal", "outcome": "fail",
        "scenarios": {"pass": ["crash-loop"], "fail": ["torn-tail"],
                      "infra_error": ["daemon-gone"]}}
    assert set(engine["verdicts"]) == {c["check"] for c in engine["checks"]}
    assert engine["profiles"]["balanced"]["capped"] is True
    assert engine["profiles"]["balanced"]["caps"][0]["reason"] == s.candidate(
        "engine").caps[0].reason


def test_a_file_without_verdicts_is_judged_the_same_by_the_scoring_layer(
        doc: dict[str, Any]) -> None:
    old = copy.deepcopy(doc)
    for cand in old["candidates"].values():
        del cand["verdicts"]  # as harness wrote results.json before it carried them
    old = results_doc.validate(old, "old")
    for name, cand in doc["candidates"].items():
        assert results_doc.verdicts(old["candidates"][name]) == results_doc.verdicts(cand)
        assert results_doc.verdicts(cand) == {k: v["outcome"] for k, v in cand["verdicts"].items()}
    assert junit.to_bytes(old) == junit.to_bytes(doc)
    assert view.build(old, diff(old, doc)) == view.build(doc, diff(doc, old))


def test_reports_read_the_verdicts_results_json_gives(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["candidates"]["engine"]["verdicts"]["log.append_only"]["outcome"] = "pass"
    assert diff(d, doc).of_kind("fix")[0].check == "log.append_only"
    assert "log.append_only" in next(c for c in view.build(d).candidates
                                     if c.name == "engine").passed


@pytest.mark.parametrize("change, words", [
    (lambda v: v.pop("log.append_only"), "'log.append_only' is not judged"),
    (lambda v: v.update({"extra.check": {"capability": "x", "severity": "minor",
                                          "outcome": "pass"}}),
     "'extra.check' is not among its checks"),
    (lambda v: v["log.append_only"].update({"outcome": "maybe"}),
     r"verdicts\.log\.append_only\.outcome: 'maybe' is not one of"),
])
def test_verdicts_that_do_not_match_the_checks_are_named(
        doc: dict[str, Any], change: Any, words: str) -> None:
    d = copy.deepcopy(doc)
    change(d["candidates"]["engine"]["verdicts"])
    with pytest.raises(ReportInputError, match=words):
        results_doc.validate(d, "r.json")


def test_check_verdict_scenarios_are_listed_once_each_in_order() -> None:
    v = CheckVerdict("c", "retries", Severity.MINOR, Outcome.FAIL,
                     (("b", Outcome.FAIL), ("a", Outcome.PASS), ("b", Outcome.FAIL),
                      ("a", Outcome.FAIL)))
    assert v.scenarios(Outcome.FAIL) == ("b", "a") and v.scenarios(Outcome.NOT_EXERCISED) == ()
