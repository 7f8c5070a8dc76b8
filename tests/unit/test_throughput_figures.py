"""The throughput figures: their computation, their ratio to the yardstick, the scenario
as data, and that they stay out of every score unless a profile asks for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness import api, eventlog
from harness.checks.status import expected_status
from harness.errors import ScenarioError, ScoringDataError
from harness.faults.throughput import validate
from harness.measures import run_problem, status_events_per_s, steps_per_s
from harness.model import Candidate, CellResult, CheckResult, Outcome, Severity
from harness.observe import Invocation, Observation
from harness.profiles import Profile, Profiles, load_profiles, profile_score
from harness.summary import summarise
from harness.throughput import (
    STATUS,
    STEPS,
    Figure,
    median_rate,
    ratio,
    speed_score,
    status_case,
    throughput_of,
    workflow_doc,
)

SCENARIO = api.all_scenarios(pattern="throughput")[0]


def test_status_case_is_a_valid_finished_log_of_about_the_size_asked() -> None:
    wf, log = status_case(1000)
    parsed = eventlog.parse_log(log)
    events = parsed.events
    assert 950 <= len(events) <= 1050 and not parsed.is_damaged and not parsed.torn
    assert parsed.finished and not eventlog.seq_problems(events)
    ids = [s["id"] for s in json.loads(wf)["steps"]]
    assert all(not eventlog.event_problems(e, ids) for e in events)
    assert events[0]["digest"] == hashlib.sha256(wf).hexdigest()
    want = expected_status(events)
    assert want["workflow"] == "succeeded" and len(want["steps"]) == len(ids)
    assert status_case(1000) == (wf, log)  # the same bytes every time


def test_workflow_doc_is_independent_no_op_steps() -> None:
    doc = workflow_doc("t", 200, 8, ["true"])
    assert doc["max_parallel"] == 8 and len(doc["steps"]) == 200
    assert len({s["id"] for s in doc["steps"]}) == 200
    assert all(s["command"] == ["true"] and "depends_on" not in s for s in doc["steps"])


def test_median_rate_and_ratio() -> None:
    assert median_rate(200, [2.0, 1.0, 100.0]) == 100.0  # the outlier does not move it
    assert median_rate(200, []) is None and median_rate(0, [1.0]) is None
    assert ratio(50.0, 100.0) == 0.5 and ratio(100.0, 100.0) == 1.0
    assert ratio(None, 100.0) is None and ratio(50.0, None) is None and ratio(1.0, 0.0) is None


def test_figure_round_trips_through_json() -> None:
    f = Figure(12.5, "steps/s", 200, (1.0, 2.0), "")
    assert Figure.from_json(json.loads(json.dumps(f.to_json()))) == f


# -- the measures, on observations made by hand ----------------------------------------

def finished_log(steps: int) -> bytes:
    lines = [{"seq": 1, "type": "WORKFLOW_STARTED"}]
    lines += [{"seq": i + 2, "type": "STEP_SUCCEEDED", "step": f"s{i:04d}", "attempt": 1}
              for i in range(steps)]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def inv(label: str, rc: int | None, wall: float, log: bytes = b"", stdout: bytes = b"") -> Invocation:
    return Invocation(label, ("x",), rc, 10.0, 10.0 + wall, stdout=stdout, log_after=log)


def obs(invs: list[Invocation], **facts: Any) -> Observation:
    return Observation(SCENARIO, 1, b"", tuple(invs), (), b"", {}, facts=facts)


def test_steps_per_s_is_the_median_over_the_runs_that_ran_every_step() -> None:
    ok = finished_log(4)
    o = obs([inv("run 1", 0, 2.0, ok), inv("run 2", 0, 1.0, ok), inv("run 3", 0, 4.0, ok)], steps=4)
    f = steps_per_s(o, {})
    assert f.value == 2.0 and f.walls_s == (2.0, 1.0, 4.0) and f.why == ""


def test_a_run_that_did_not_finish_gives_no_figure_and_says_why() -> None:
    o = obs([inv("run 1", 1, 0.5, finished_log(4))], steps=4)
    f = steps_per_s(o, {})
    assert f.value is None and "run 1 exited 1" in f.why
    half = obs([inv("run 1", 0, 0.5, finished_log(2))], steps=4)
    assert "2 of 4 steps" in steps_per_s(half, {}).why
    assert "did not finish" in run_problem(inv("run 1", None, 60.0), 4)


def test_status_counts_only_a_correct_answer() -> None:
    wf, log = status_case(40)
    n = log.count(b"\n")
    right = json.dumps(expected_status(eventlog.parse_log(log).events)).encode()
    o = obs([inv("status 1", 0, 0.1, stdout=right), inv("status 2", 0, 0.2, stdout=right)],
            status_target=40, status_events=n)
    assert status_events_per_s(o, {}).value == pytest.approx(n / 0.15, rel=1e-3)
    wrong = obs([inv("status 1", 0, 0.1, stdout=b'{"workflow": "running"}')],
                status_target=40, status_events=n)
    f = status_events_per_s(wrong, {})
    assert f.value is None and "status 1: workflow: expected 'succeeded'" in f.why


# -- ratios to the yardstick ------------------------------------------------------------

def tcell(name: str, steps: float | None, status: float | None, why: str = "") -> CellResult:
    figs = {STEPS: Figure(steps, "steps/s", 200, why="" if steps else why or "no"),
            STATUS: Figure(status, "events/s", 1000, why="" if status else why or "no")}
    return CellResult(name, "throughput", 1, "fake", (), "", 1.0,
                      extra={"measures": {k: f.to_json() for k, f in figs.items()}})


def test_the_yardstick_s_ratio_to_itself_is_exactly_one() -> None:
    ref = [tcell("reference", 100.0, 2000.0)]
    t = throughput_of(ref, ref, "reference")
    assert t is not None
    assert [(r.value, r.ratio) for r in t.rates] == [(100.0, 1.0), (2000.0, 1.0)]


def test_ratio_to_the_yardstick_and_a_missing_figure() -> None:
    ref = [tcell("reference", 100.0, 2000.0)]
    t = throughput_of([tcell("b", 50.0, None, why="status 1: exit 3")], ref, "reference")
    assert t is not None
    assert (t.rate(STEPS).value, t.rate(STEPS).ratio) == (50.0, 0.5)
    assert t.rate(STATUS).value is None and t.rate(STATUS).why == "status 1: exit 3"
    no_yard = throughput_of([tcell("b", 50.0, 900.0)], [], "reference")
    assert no_yard is not None and no_yard.rate(STEPS).ratio is None
    assert "yardstick (reference) has no figure" in no_yard.rate(STEPS).why
    assert throughput_of([], ref, "reference") is None  # no throughput cell: no figures


def test_speed_score_caps_each_ratio_at_one() -> None:
    ref = [tcell("reference", 100.0, 2000.0)]
    fast = throughput_of([tcell("f", 300.0, 1000.0)], ref, "reference")
    assert speed_score(fast) == 7.5  # (1 + 0.5) / 2 x 10
    assert speed_score(None) is None


# -- kept out of the scores --------------------------------------------------------------

def cand(name: str) -> Candidate:
    return Candidate(name, "none", "", ("engine",), frozenset(), Path("/nonexistent"))


def judged_cell(name: str) -> CellResult:
    results = (CheckResult("dag.exit_zero", "dependency_order", Severity.FATAL, Outcome.PASS),
               CheckResult("log.schema", "durable_log", Severity.MAJOR, Outcome.FAIL))
    return CellResult(name, "clean-run", 1, "fake", results, "", 1.0)


def scores(doc_cells: list[CellResult], profiles: Profiles) -> dict[str, Any]:
    cands = [cand("a"), cand("reference")]
    intents = api.intents(cands, {})
    s = summarise(cands, doc_cells, intents, profiles, profiles.default)
    return {c.name: ([p.score for p in c.profiles], c.execution, c.tally) for c in s.candidates}


def test_throughput_cells_change_no_score_and_no_tally() -> None:
    profiles = api.scoring_data()[0]
    judged = [judged_cell("a"), judged_cell("reference")]
    slow = [tcell("a", 1.0, 1.0), tcell("reference", 100.0, 2000.0)]
    assert scores(judged + slow, profiles) == scores(judged, profiles)
    assert all(p.speed_weight == 0 for p in profiles.profiles)


def test_a_profile_asks_for_speed_with_speed_weight(tmp_path: Path) -> None:
    f = tmp_path / "profiles.toml"
    f.write_text('default = "fast"\ncore = []\n[profiles.fast]\nintent_weight = 0\n'
                 'fatal_cap = 10\nspeed_weight = 0.5\n')
    profiles = load_profiles(f)
    judged = [judged_cell("a"), judged_cell("reference")]
    slow = [tcell("a", 50.0, 1000.0), tcell("reference", 100.0, 2000.0)]
    with_speed = scores(judged + slow, profiles)
    plain = scores(judged, profiles)
    assert plain["a"][0] == [6.0]  # execution alone: 3 of 5 weight passed
    assert with_speed["a"][0] == [5.5]  # (6.0 + speed 5.0) / 2
    assert with_speed["reference"][0] == [8.0]  # (6.0 + 10.0) / 2
    f.write_text(f.read_text().replace("0.5", "1.5"))
    with pytest.raises(ScoringDataError, match="speed_weight"):
        load_profiles(f)


def test_no_figure_is_not_a_zero_under_a_speed_profile() -> None:
    p = Profile("fast", 0.0, 10.0, "", speed_weight=0.5)
    assert profile_score(p, 8.0, None, (), speed=None).score == 8.0
    assert profile_score(p, 8.0, None, (), speed=4.0).score == 6.0


# -- the scenario, as data -------------------------------------------------------------

def test_the_scenario_only_measures() -> None:
    assert SCENARIO.procedure == "throughput" and SCENARIO.checks == ()
    assert [m.check for m in SCENARIO.measures] == ["throughput.steps_per_s",
                                                   "throughput.status_events_per_s"]
    assert SCENARIO.params["steps"] == 200 and SCENARIO.params["max_parallel"] == 8
    assert validate(dict(SCENARIO.params)) == []
    assert validate({"steps": 0, "command": []}) == [
        "params.steps: must be an integer >= 1",
        "params.command: must be a non-empty list of non-empty strings"]


def test_a_bad_throughput_parameter_names_the_file(tmp_path: Path) -> None:
    text = SCENARIO.path.read_text().replace("runs = 3", "runs = true")
    (tmp_path / "throughput.toml").write_text(text)
    with pytest.raises(ScenarioError, match="params.runs"):
        api.all_scenarios(tmp_path)


def test_the_yardstick_is_the_reference_scored_or_planned_once() -> None:
    ref = api.load_candidate(api.REFERENCE)
    other = replace(ref, name="other", path=Path("/elsewhere"))
    assert api.yardstick([ref, other], [SCENARIO]) == ("reference", None, [])
    name, extra, measuring = api.yardstick([other], [SCENARIO])
    assert name == "reference" and extra is not None and measuring == [SCENARIO]
    clash = replace(other, name="reference")
    name, extra, _ = api.yardstick([clash], [SCENARIO])
    assert name == "reference (yardstick)" and extra is not None and extra.name == name
    clean = api.all_scenarios(pattern="clean-run")
    assert api.yardstick([other], clean) == ("reference", None, [])  # nothing to measure
    specs, _ = api.plan([other], [*clean, SCENARIO], 1, "local")
    assert [(s.candidate.name, s.scenario.name) for s in specs] == [
        ("other", "clean-run"), ("other", "throughput"), ("reference", "throughput")]


# -- results.json, results.csv, the report and the terminal ---------------------------

def speed_doc(yard: str = "reference") -> dict[str, Any]:
    from harness.report import doc as results_doc
    from harness.report.results import build

    profiles, _ = api.scoring_data()
    cands = [cand("a"), cand("b")]
    cells = [judged_cell("a"), tcell("a", 50.0, None, why="status 1: exit 3\nTypeError: boom"),
             judged_cell("b"), judged_cell(yard), tcell(yard, 100.0, 2000.0)]
    d = build(cands, cells, seed=1, runner={"runner": "fake"}, scenarios=["clean-run", "throughput"],
              intents=api.intents(cands, {}), profiles=profiles, headline=profiles.default,
              yardstick=yard)
    return results_doc.validate(json.loads(json.dumps(d)), "test")


def test_results_json_holds_the_figures_beside_the_scores() -> None:
    d = speed_doc()
    a, b = d["candidates"]["a"], d["candidates"]["b"]
    assert a["throughput"] == {
        "yardstick": "reference", "steps_per_s": {"value": 50.0, "ratio": 0.5, "why": ""},
        "status_events_per_s": {"value": None, "ratio": None, "why": "status 1: exit 3\nTypeError: boom"}}
    assert b["throughput"] is None  # no throughput cell of b ran
    assert d["yardstick"] == {"candidate": "reference", "scored": False,
                              "steps_per_s": {"value": 100.0, "ratio": 1.0, "why": ""},
                              "status_events_per_s": {"value": 2000.0, "ratio": 1.0, "why": ""}}
    assert "reference" not in d["candidates"]  # the yardstick's cell is in no score
    assert all(p["speed_weight"] == 0 for p in d["profiles"].values())


def test_csv_has_the_figures_on_every_row_of_the_candidate() -> None:
    import io

    import pandas as pd

    from harness.report import table

    d = speed_doc()
    back = pd.read_csv(io.BytesIO(table.to_bytes(d)))
    a = back[back.candidate == "a"]
    assert list(a.steps_per_s.unique()) == [50.0] and list(a.steps_ratio.unique()) == [0.5]
    assert a.status_events_per_s.isna().all() and a.status_ratio.isna().all()
    assert back[back.candidate == "b"].steps_per_s.isna().all()
    assert table.frame(d).columns.tolist() == table.COLUMNS


def test_report_shows_figures_ratios_and_why_there_is_none() -> None:
    from harness.report import html, view

    page = html.render(view.build(speed_doc()))
    assert "run<br>steps/s" in page and "status<br>events/s" in page
    assert "50.0" in page and "\u00d70.50" in page
    assert "no figure" in page and "status 1: exit 3 \u2026 TypeError: boom" in page
    assert "ratio to reference in the same run" in page and "in no profile&#39;s score" in page


def test_report_without_throughput_has_no_speed_columns() -> None:
    from harness.report import html, view
    from harness.report.results import build

    profiles, _ = api.scoring_data()
    d = build([cand("a")], [judged_cell("a")], seed=1, runner={"runner": "fake"},
              scenarios=["clean-run"], intents=api.intents([cand("a")], {}), profiles=profiles,
              headline=profiles.default)
    assert "steps/s" not in html.render(view.build(json.loads(json.dumps(d))))


def test_terminal_says_the_figures_after_the_table() -> None:
    from harness.report.speedview import terminal_lines

    lines = terminal_lines(speed_doc())
    assert lines[0].startswith("Throughput:") and "reference" in lines[0]
    assert lines[1:] == ["a throughput: run 50.0 steps/s \u00d70.50; status no figure"
                         " (status 1: exit 3 \u2026 TypeError: boom)"]
