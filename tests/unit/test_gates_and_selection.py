"""Which scenarios a run judges (--scenario, --suite), how a partial run says so in every
output, and the CI gates on a finished run (--fail-under, --fail-on-regression)."""

from __future__ import annotations

import copy
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xmlschema
from click.testing import CliRunner

from harness import api, gate
from harness.checks import REGISTRY
from harness.cli import main
from harness.errors import ScenarioError
from harness.report import html, junit, table, view
from harness.suites import Coverage, coverage_of, load_suite
from tests.unit.test_report import SCHEMA, make_doc, rejudged, strict

NAMES = [s.name for s in api.all_scenarios() if s.checks]  # those that judge
N = len(NAMES)


def partial_doc(doc: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    d["coverage"] = Coverage(tuple(d["scenarios"]), tuple(NAMES), "quick").to_json()
    return d


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return make_doc({"good": strict, "other": strict})


def test_scenario_patterns_are_a_union_of_names_globs_and_substrings() -> None:
    picked, cov = api.pick_scenarios(patterns=["clean-run", "sig*", "torn"])
    assert [s.name for s in picked] == ["clean-run", "sigint", "sigterm", "torn-tail"]
    assert cov.partial and cov.says() == (f"partial: 4 of {N} scenarios (--scenario clean-run"
                                          " --scenario sig* --scenario torn)")
    # an exact name selects that scenario alone, not every name that holds it
    assert [s.name for s in api.pick_scenarios(patterns=["crash-loop"])[0]] == ["crash-loop"]
    every, full = api.pick_scenarios()
    assert len(every) == len(api.all_scenarios()) and not full.partial and full.says() == f"all {N} scenarios"


def test_a_pattern_that_selects_nothing_is_named() -> None:
    with pytest.raises(ScenarioError, match="no scenario matches 'clen-run'"):
        api.pick_scenarios(patterns=["clean-run", "clen-run"])


def test_the_quick_suite_reaches_every_capability_the_full_set_checks() -> None:
    every = api.all_scenarios()
    caps = {REGISTRY[c.check].capability for s in every for c in s.checks}
    picked, cov = api.pick_scenarios(suite="quick")
    assert {REGISTRY[c.check].capability for s in picked for c in s.checks} == caps
    assert cov.partial and cov.suite == "quick" and len(picked) < len(every)
    # --scenario picks among the suite's scenarios
    assert [s.name for s in api.pick_scenarios(patterns=["t*"], suite="quick")[0]] == [
        "timeout-kills-group", "torn-tail"]


@pytest.mark.parametrize("text, message", [
    (None, "no suite named 'mine' (have: quick)"),
    ('scenarios = "clean-run"', "'scenarios' must be a non-empty list"),
    ("scenarios = []", "'scenarios' must be a non-empty list"),
    ('scenarios = ["clean-run", "nope"]', "unknown scenario(s) 'nope'"),
    ('scenarios = ["clean-run"]\nextra = 1', "unknown key(s) extra"),
    ("scenarios = [", "cannot be read as TOML"),
])
def test_a_bad_suite_file_is_named(tmp_path: Path, text: str | None, message: str) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "quick.toml").write_text('scenarios = ["clean-run"]\n')
    if text is not None:
        (tmp_path / "suites" / "mine.toml").write_text(text + "\n")
    with pytest.raises(ScenarioError) as err:
        load_suite(tmp_path, "mine", NAMES)
    assert message in str(err.value)


def test_coverage_round_trips_and_an_old_file_counts_as_full(doc: dict[str, Any]) -> None:
    assert not coverage_of(doc).partial and doc["coverage"]["partial"] is False
    old = {k: v for k, v in doc.items() if k != "coverage"}  # written before coverage
    assert not coverage_of(old).partial
    back = coverage_of(partial_doc(doc))
    assert back.partial and back.suite == "quick" and back.short() == f"1 of {N} scenarios"


def test_every_output_marks_a_partial_run(doc: dict[str, Any]) -> None:
    part = partial_doc(doc)
    # CSV: a partial column, True on every row of a partial run; and the model column
    full_rows, part_rows = (pd.read_csv(io.BytesIO(table.to_bytes(d))) for d in (doc, part))
    assert list(part_rows.columns) == table.COLUMNS and "model" in table.COLUMNS
    assert set(full_rows.partial) == {False} and set(part_rows.partial) == {True}
    # JUnit: every suite's name, and properties; still valid against the schema
    data = junit.to_bytes(part)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(data))
    root = ET.fromstring(data)
    assert root.get("name") == f"harness (partial: 1 of {N} scenarios)"
    for suite in root.iter("testsuite"):
        assert str(suite.get("name")).endswith(f" (partial: 1 of {N} scenarios)")
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["partial"] == "true" and props["coverage"].startswith(f"partial: 1 of {N}")
    assert "partial" not in ET.fromstring(junit.to_bytes(doc)).get("name", "")
    # HTML: a banner naming what was left out
    page = html.render(view.build(part))
    assert 'id="partial"' in page and "clean-run" in page.split('id="partial"')[1][:2000]
    assert 'id="partial"' not in html.render(view.build(doc))


def test_the_csv_names_each_candidates_model(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["candidates"]["good"]["origin"] = {"model": "model-x"}
    frame = pd.read_csv(io.BytesIO(table.to_bytes(d)))
    assert set(frame[frame.candidate == "good"].model) == {"model-x"}
    assert frame[frame.candidate == "other"].model.isna().all()  # none named: empty


def test_the_intent_hint_names_a_bundled_candidate_by_name_and_others_by_path() -> None:
    bundled = {"name": "reference", "path": str(api.ROOT / "candidates" / "reference")}
    assert view.intent_command(bundled) == "harness intent reference --all-signals"
    elsewhere = {"name": "reference", "path": "/tmp/my engines/reference"}
    assert view.intent_command(elsewhere) == "harness intent '/tmp/my engines/reference' --all-signals"


def with_outcome(d: dict[str, Any], cand: str, check: str, outcome: str) -> dict[str, Any]:
    d = copy.deepcopy(d)
    for chk in d["candidates"][cand]["checks"]:
        if chk["check"] == check:
            chk["outcome"] = outcome
    return rejudged(d)


def test_a_regression_is_a_check_that_passed_in_the_baseline_and_fails_now(
        doc: dict[str, Any]) -> None:
    passing = [c["check"] for c in doc["candidates"]["good"]["checks"] if c["outcome"] == "pass"]
    check = passing[0]
    now = with_outcome(doc, "good", check, "fail")
    [r] = gate.regressions(now, doc)
    assert (r.change.candidate, r.change.check, r.scenarios) == ("good", check, ("invalid-workflow",))
    assert gate.gated([r]) == [r] and r.says() == f"good: {check} (fails in invalid-workflow)"
    assert gate.regressions(doc, now) == []  # a fix is no regression
    assert gate.regressions(now, now) == []
    # not exercised or an infrastructure error now: not the candidate's regression
    for outcome in ("not_exercised", "infra_error"):
        assert gate.regressions(with_outcome(doc, "good", check, outcome), doc) == []


def test_a_check_flaky_in_either_run_is_reported_not_gated(doc: dict[str, Any]) -> None:
    check = next(c["check"] for c in doc["candidates"]["good"]["checks"] if c["outcome"] == "pass")
    now = with_outcome(doc, "good", check, "fail")
    flaky = copy.deepcopy(now)
    flaky["candidates"]["good"]["flaky"] = [{"check": check, "scenario": "invalid-workflow",
                                              "passed": 2, "failed": 1}]
    flaky["candidates"]["good"]["check_rates"] = {check: {"passed": 2, "failed": 1, "rate": 0.67}}
    [r] = gate.regressions(flaky, doc)
    assert r.flaky == "flaky now: 2 of 3 trials passed" and gate.gated([r]) == []
    base = copy.deepcopy(doc)
    base["candidates"]["good"].update(flaky=flaky["candidates"]["good"]["flaky"],
                                      check_rates=flaky["candidates"]["good"]["check_rates"])
    [r] = gate.regressions(now, base)
    assert r.flaky.startswith("flaky in the baseline") and "not gated" in r.says()


def test_fail_under_says_what_it_was_measured_on(doc: dict[str, Any]) -> None:
    assert gate.measured_on(doc) == f"{doc['headline_profile']}, all 1 scenarios"
    assert gate.measured_on(partial_doc(doc)).endswith(f"partial: 1 of {N} scenarios (--suite quick)")
    assert gate.below(doc, 11) == ["good", "other"] and gate.below(doc, 0) == []


def test_fail_on_regression_needs_a_baseline_and_a_bad_suite_is_a_clean_error() -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["score", "reference", "--fail-on-regression"])
    assert res.exit_code == 2 and "--fail-on-regression compares with a baseline" in res.output
    res = runner.invoke(main, ["score", "reference", "--suite", "nope"])
    assert res.exit_code == 2 and "no suite named 'nope' (have: quick)" in res.output
    assert "Traceback" not in res.output


def test_the_results_schema_accepts_coverage(doc: dict[str, Any]) -> None:
    from harness.report import doc as results_doc

    results_doc.validate(json.loads(json.dumps(partial_doc(doc))), "test")
    bad = partial_doc(doc)
    bad["coverage"]["partial"] = "yes"
    with pytest.raises(Exception, match="partial"):
        results_doc.validate(bad, "test")


def test_leaving_out_only_a_scenario_that_judges_nothing_is_not_partial() -> None:
    """throughput measures and scores nothing: a run without it is a full run."""
    measuring = [s.name for s in api.all_scenarios() if not s.checks]
    assert measuring == ["throughput"]
    judging = [s for s in api.all_scenarios() if s.checks]
    picked, cov = api.pick_scenarios(patterns=[s.name for s in judging])
    assert not cov.partial and cov.says() == f"all {N} scenarios"
    _, alone = api.pick_scenarios(patterns=["throughput"])
    assert alone.partial and alone.short() == f"0 of {N} scenarios"
