"""Unit tests for the scoring layer (harness.summary): a run's cells in, typed records out,
and results.json and the reports saying what those records say."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import api
from harness.errors import ReportInputError, UsageError
from harness.intent import NO_STEP_RAN, Cell, Hit, Intent
from harness.model import CAPABILITIES, Candidate, CellResult, CheckResult, Outcome, Severity
from harness.report import doc as results_doc
from harness.report import html, junit, table, view
from harness.report.baseline import diff
from harness.report.results import build
from harness.runners.fake import FakeCell, FakeRunner
from harness.summary import (
    CandidateScore,
    CheckRate,
    CheckVerdict,
    Flaky,
    Summary,
    Tally,
    TrialScore,
    summarise,
)

PROFILES, LANGUAGES = api.scoring_data()
JUNIT_XSD = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"
CLAIMS = frozenset({"durable_log", "input_validation"})
ENGINE = Candidate("engine", "none", "", ("engine",), CLAIMS, Path("/nonexistent"))
OTHER = Candidate("other", "none", "", ("engine",), frozenset(), Path("/nonexistent"))
NO_INTENT = {"engine": Intent(True, (), CLAIMS), "other": Intent(True, (), frozenset())}  # read, none found

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


def test_an_unjudged_language_scores_execution_alone_under_every_profile() -> None:
    unknown = {"engine": Intent(False, (), CLAIMS, "zig"),
               "other": Intent(False, (), frozenset(), "zig")}
    engine = summarise([ENGINE], CELLS, unknown, PROFILES, "balanced").candidate("engine")
    judged = summarise([ENGINE], CELLS, NO_INTENT, PROFILES, "balanced").candidate("engine")
    assert engine.intent.credited is None and engine.intent.signalled is None
    assert engine.intent.withheld == "design intent not judged: no signals for zig"
    for p in engine.profiles:  # never intent 0: the profile is execution alone, then capped
        cap = PROFILES.get(p.profile).fatal_cap / 10 if p.capped else 1.0
        assert p.score == pytest.approx(engine.execution * cap, abs=0.01)
    # a judged intent of 0 costs points under an intent-weighted profile; not judged costs none
    assert judged.profile("design-first").score < engine.profile("design-first").score


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


# trials: each trial scored on its own, the mean and its interval, pass rates, flaky


def in_trial(cells: Sequence[CellResult], trial: int) -> list[CellResult]:
    return [dataclasses.replace(c, trial=trial) for c in cells]


# trial 0: CELLS as above (log.append_only fails in torn-tail); trial 1: it passes there too
PASSING = tuple(cell(c.scenario, *(((r.check, r.capability, r.severity),
                                    Outcome.PASS if r.outcome is Outcome.FAIL else r.outcome)
                                   for r in c.results), candidate=c.candidate) for c in CELLS)
TWO_TRIALS = (*in_trial(CELLS, 0), *in_trial(PASSING, 1))


def engine_of(cells: Sequence[CellResult], trials: int = 1) -> CandidateScore:
    return summarise([ENGINE, OTHER], cells, NO_INTENT, PROFILES, "balanced",
                     trials).candidate("engine")


def test_one_trial_scores_as_before_trials_existed() -> None:
    engine = engine_of(CELLS)
    assert engine.score == engine.profile("balanced").score  # the very same float
    assert engine.trials.per_trial == (TrialScore(0, engine.score, engine.execution, True),)
    assert engine.trials.interval is None and engine.trials.flaky == ()
    assert engine.trials.rate("log.append_only") == CheckRate("log.append_only", 0, 1)


def test_each_trial_is_scored_on_its_own_cells_and_the_score_is_their_mean() -> None:
    engine = engine_of(TWO_TRIALS, trials=2)
    alone = [engine_of(CELLS), engine_of(PASSING)]  # each trial as a run of its own
    assert [(t.trial, t.score, t.execution, t.fatal_failed) for t in engine.trials.per_trial] == [
        (0, alone[0].score, alone[0].execution, True), (1, alone[1].score, alone[1].execution,
                                                        False)]
    s0, s1 = (a.score for a in alone)
    assert s0 is not None and s1 is not None and s0 < s1
    assert engine.score == pytest.approx((s0 + s1) / 2)
    # Student t with one degree of freedom, by hand: m +- t(0.975, 1) * sd / sqrt(2)
    half = 12.706204736174698 * statistics.stdev([s0, s1]) / math.sqrt(2)
    assert engine.trials.interval == pytest.approx(((s0 + s1) / 2 - half, (s0 + s1) / 2 + half))
    # the pooled records judge every cell at once: failed in one trial is failed
    assert engine.profile("balanced").score == s0 and engine.tally.failed == 1
    assert engine.verdict("log.append_only").outcome is Outcome.FAIL  # type: ignore[union-attr]


def test_check_rates_count_one_verdict_per_trial_and_leave_out_the_unjudged() -> None:
    trials = engine_of(TWO_TRIALS, trials=2).trials
    assert [(r.check, r.passed, r.failed, r.rate) for r in trials.rates] == [
        ("inputs.invalid_rejected", 2, 0, 1.0),  # infra_error in daemon-gone: not counted
        ("log.append_only", 1, 1, 0.5),  # passed in crash-loop, failed in torn-tail: one fail
        ("retry.bounded", 2, 0, 1.0)]  # not exercised in crash-loop: not counted
    unjudged = [cell("daemon-gone", (RETRY, Outcome.NOT_EXERCISED), (REJECT, Outcome.INFRA_ERROR))]
    lone = engine_of([*unjudged, *in_trial(unjudged, 1)], trials=2).trials
    assert [(r.check, r.passed, r.failed, r.rate) for r in lone.rates] == [
        ("inputs.invalid_rejected", 0, 0, None), ("retry.bounded", 0, 0, None)]
    assert lone.per_trial[0].score is None and lone.mean is None and lone.interval is None


def test_a_check_that_passed_and_failed_in_one_scenario_is_flaky() -> None:
    three = (*TWO_TRIALS, *in_trial(CELLS, 2))
    trials = engine_of(three, trials=3).trials
    # torn-tail: failed, passed, failed; crash-loop always passed, daemon-gone never judged
    assert trials.flaky == (Flaky("log.append_only", "torn-tail", 1, 2),)
    assert trials.flaky_checks() == ("log.append_only",)
    assert engine_of([*in_trial(CELLS, 0), *in_trial(CELLS, 1)], trials=2).trials.flaky == ()
    other = summarise([OTHER], three, NO_INTENT, PROFILES, "balanced", 3).candidate("other")
    assert other.trials.flaky == (Flaky("log.append_only", "crash-loop", 1, 2),)
    assert [t.fatal_failed for t in other.trials.per_trial] == [True, False, True]


def test_a_trial_without_cells_has_no_score_and_is_left_out_of_the_mean() -> None:
    engine = engine_of(TWO_TRIALS, trials=3)  # the run stopped before trial 2 began
    assert [t.trial for t in engine.trials.per_trial] == [0, 1, 2]
    assert engine.trials.per_trial[2] == TrialScore(2, None, None, False)
    assert engine.score == engine_of(TWO_TRIALS, trials=2).score


@settings(max_examples=30)
@given(st.permutations(TWO_TRIALS))
def test_the_order_cells_finish_in_changes_no_trial_score(cells: list[CellResult]) -> None:
    assert engine_of(cells, 2).trials == engine_of(TWO_TRIALS, 2).trials


@pytest.fixture(scope="module")
def trials_doc() -> dict[str, Any]:
    three = (*TWO_TRIALS, *in_trial(CELLS, 2))
    out = build([ENGINE, OTHER], three, seed=1, runner={"runner": "fake"}, scenarios=["x"],
                intents=NO_INTENT, profiles=PROFILES, headline="balanced", trials=3)
    return results_doc.validate(json.loads(json.dumps(out)), "trials")


def test_results_json_carries_the_trials(trials_doc: dict[str, Any]) -> None:
    engine = summarise([ENGINE, OTHER], (*TWO_TRIALS, *in_trial(CELLS, 2)), NO_INTENT,
                       PROFILES, "balanced", 3).candidate("engine")
    cand = trials_doc["candidates"]["engine"]
    assert trials_doc["trials"] == cand["trials"] == 3
    assert cand["score"] == engine.score and cand["score_interval"] == list(
        engine.trials.interval or ())
    second = engine.trials.per_trial[1]
    assert cand["per_trial"][1] == {"trial": 1, "score": second.score, "execution_score": 10.0,
                                    "fatal_failed": False}
    assert cand["check_rates"]["log.append_only"] == {"passed": 1, "failed": 2, "rate": 1 / 3}
    assert cand["flaky"] == [{"check": "log.append_only", "scenario": "torn-tail", "passed": 1,
                              "failed": 2}]
    assert [c["trial"] for c in cand["cells"]] == [0] * 4 + [1] * 4 + [2] * 4
    assert {c["trial"] for c in cand["checks"]} == {0, 1, 2}
    assert cand["profiles"]["balanced"]["score"] != cand["score"]  # pooled vs mean


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update({"trials": 0}), r"trials: 0 is less than the minimum of 1"),
    (lambda d: d["candidates"]["engine"].update({"score_interval": [1.0]}), "score_interval"),
    (lambda d: d["candidates"]["engine"]["flaky"][0].update({"passed": "1"}), "'1' is not of type"),
    (lambda d: d["candidates"]["engine"]["per_trial"][0].pop("fatal_failed"), "fatal_failed"),
    (lambda d: d["candidates"]["engine"]["checks"][0].update({"trial": -1}), "minimum of 0"),
])
def test_the_schema_is_strict_on_the_trial_keys(trials_doc: dict[str, Any], change: Any,
                                                words: str) -> None:
    d = copy.deepcopy(trials_doc)
    change(d)
    with pytest.raises(ReportInputError, match=words):
        results_doc.validate(d, "r.json")


def test_the_reports_mark_flaky_checks(trials_doc: dict[str, Any]) -> None:
    report = view.build(trials_doc)
    engine = next(c for c in report.candidates if c.name == "engine")
    assert [(f.check, f.scenario, f.text) for f in engine.flaky] == [
        ("log.append_only", "torn-tail", "1 of 3 trials passed")]
    group = next(g for g in engine.groups if g.first.check == "log.append_only")
    assert group.flaky == "flaky: 1 of 3 trials passed" and len(group.others) == 1
    assert engine.headline is not None and engine.headline.text.startswith(
        f"{trials_doc['candidates']['engine']['score']:.2f} \u00b1 ")
    row = next(r for r in report.leaderboard if r.name == "engine")
    assert row.flaky == 1 and row.scores[PROFILES.names.index("balanced")] == engine.headline
    anchors = [c.anchor for c in engine.cells]
    assert len(set(anchors)) == len(anchors) == 12  # one per trial's run
    page = html.render(report)
    assert "flaky: 1 of 3 trials passed" in page and "1 flaky" in page
    data = junit.to_bytes(trials_doc)
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(io.BytesIO(data))
    failure = next(c for c in ET.fromstring(data).iter("testcase")
                   if c.get("name") == "log.append_only").find("failure")
    assert failure is not None and failure.get("message", "").startswith(
        "flaky (1 of 3 trials passed): log.append_only failed in torn-tail")
    frame = pd.read_csv(io.BytesIO(table.to_bytes(trials_doc)))
    rows = frame[frame.candidate == "engine"]
    assert set(rows.trial) == {0, 1, 2} and set(rows.trials) == {3}
    lo, hi = trials_doc["candidates"]["engine"]["score_interval"]
    assert rows.score_lo.iloc[0] == pytest.approx(lo) and rows.score_hi.iloc[0] == pytest.approx(hi)


def test_a_results_file_from_before_trials_still_renders(trials_doc: dict[str, Any]) -> None:
    old = copy.deepcopy(trials_doc)
    del old["trials"]
    for cand in old["candidates"].values():
        for key in ("trials", "score_interval", "per_trial", "check_rates", "flaky"):
            del cand[key]
        for entry in (*cand["checks"], *cand["cells"]):
            del entry["trial"]
    old = results_doc.validate(old, "old")
    report = view.build(old)
    assert report.trials == 1 and all(c.flaky == () and c.headline is None
                                       for c in report.candidates)
    assert "flaky-mark\">" not in html.render(report) and b"flaky" not in junit.to_bytes(old)
    assert set(pd.read_csv(io.BytesIO(table.to_bytes(old))).trial) == {0}


def test_results_csv_is_the_bytes_pandas_writes(doc: dict[str, Any],
                                                trials_doc: dict[str, Any]) -> None:
    """table.to_bytes writes results.csv without pandas, by pandas' rules for the column
    types it infers: the very bytes of frame(doc).to_csv, on the documents above and on
    one made to hold every kind of value a column can mix."""
    odd = copy.deepcopy(trials_doc)
    cands = list(odd["candidates"].values())
    cands[0]["score"], cands[0]["score_interval"] = None, None  # numbers and None
    cands[-1]["execution_score"] = 7  # an int among floats
    check = cands[0]["checks"][0]
    check["evidence"] = [{"expected": 'a "quoted", comma', "seen": "two\nlines", "where": ""}]
    check["reproduce"] = "harness score 'x, y'"
    for d in (doc, trials_doc, odd):
        buf = io.StringIO()
        table.frame(d).to_csv(buf, index=False)
        assert table.to_bytes(d) == buf.getvalue().encode()
