"""The report's pieces without a browser: view model, timeline geometry, escaping,
JUnit against the common schema, the CSV, the baseline diff, and bad input files."""

from __future__ import annotations

import copy
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import xmlschema

from harness import api
from harness.errors import ReportInputError
from harness.model import Candidate
from harness.report import doc as results_doc
from harness.report import html, junit, table, timeline, view
from harness.report.baseline import diff
from harness.report.results import build, verdict_json
from harness.report.write import write_report
from harness.runners.fake import FakeCell, FakeRunner

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"
MARKUP = '<script>alert("x")</script></table><img src=x onerror=alert(1)>'


def cand(name: str, description: str = "") -> Candidate:
    return Candidate(name, "none", description, ("engine",), frozenset({"input_validation"}),
                     Path("/nonexistent"))


def strict(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
    return 2, b"", b"error: invalid workflow\n"


def hostile(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
    """Accepts everything, and writes markup and control characters to stderr."""
    if args[0] == "run":
        Path(args[2]).mkdir(parents=True, exist_ok=True)
    return 0, b"", f"{MARKUP}\x00\x1b[31m\n".encode()


def make_doc(engines: dict[str, Any], description: str = "") -> dict[str, Any]:
    scenario = api.all_scenarios(pattern="invalid-workflow")[0]
    cands = [cand(n, description) for n in engines]
    cells = [api.run_cell(FakeRunner(fn), c, scenario, seed=4) for c, fn in
             zip(cands, engines.values(), strict=True)]
    profiles, languages = api.scoring_data()
    doc = build(cands, cells, seed=4, runner={"runner": "fake", "why": "fake runner"},
                scenarios=[scenario.name], intents=api.intents(cands, languages),
                profiles=profiles, headline=profiles.default)
    return results_doc.validate(json.loads(json.dumps(doc)), "test")


def rejudged(d: dict[str, Any]) -> dict[str, Any]:
    """d, whose check outcomes a test changed by hand, with the verdicts a results.json
    holding those outcomes would carry (the scoring layer judges the checks again)."""
    for cand in d["candidates"].values():
        cand["verdicts"] = {v.check: verdict_json(v) for v in results_doc.judge(cand["checks"])}
    return d


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return make_doc({"good": strict, f"bad{MARKUP}": hostile}, description=MARKUP)


def test_leaderboard_ranks_by_headline_and_links_failures(doc: dict[str, Any]) -> None:
    r = view.build(doc)
    assert [row.name for row in r.leaderboard] == ["good", f"bad{MARKUP}"]
    bad = r.leaderboard[1]
    assert bad.failed == 3 and {link.text for link in bad.failing} == {
        "inputs.invalid_rejected", "inputs.invalid_leaves_no_state", "inputs.status_without_log"}
    anchors = {k.anchor for c in r.candidates for k in c.failing}
    assert all(link.href[1:] in anchors for link in bad.failing)
    assert len(r.leaderboard[0].scores) == len(doc["profiles"])


def test_matrix_cells_link_to_capability_evidence(doc: dict[str, Any]) -> None:
    r = view.build(doc)
    caps = {cap.anchor: cap for c in r.candidates for cap in c.capabilities}
    for row in r.matrix:
        assert len(row.cells) == 13
        for cell in row.cells:
            assert cell.href[1:] in caps and caps[cell.href[1:]].state == cell.state
    bad = next(row for row in r.matrix if row.name.startswith("bad"))
    assert dict(zip(r.capabilities, (c.state for c in bad.cells), strict=True))[
        "input_validation"] == "claimed_refuted"


def test_excerpt_marks_the_offending_line() -> None:
    lines = view.excerpt_lines("before:\n    1 | {}\n>   2 | {\"x\": 1}\n    3 | {}")
    assert [(line.hot, line.heading) for line in lines] == [(False, True), (False, False), (True, False),
                                                   (False, False)]


def test_html_escapes_everything_a_candidate_wrote(doc: dict[str, Any]) -> None:
    page = html.render(view.build(doc))
    assert MARKUP not in page and "alert(" in page
    assert page.count("<script") == 1  # the report's own, pinned by the CSP hash
    assert page.count("<table") == page.count("</table>")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;/table&gt;" in page
    assert html.script_hash((html.TEMPLATES / "report.js").read_text()) in page


def test_timeline_packs_overlapping_invocations_and_marks_kills_and_resumes() -> None:
    t = timeline.build({
        "invocations": [
            {"label": "run 1", "start": 0.0, "end": 1.0, "returncode": -9,
             "fault": "SIGKILL after 1 s", "fault_at": 0.99},
            {"label": "run 2", "start": 1.1, "end": 3.0, "returncode": 0},
            {"label": "second run", "start": 1.5, "end": 2.0, "returncode": 4}],
        "runs": [
            {"step": "a", "run": 1, "pid": 10, "start": 0.1, "end": None, "exit": None,
             "died": 1.2},
            {"step": "a", "run": 2, "pid": 11, "start": 1.3, "end": 1.8, "exit": 0},
            {"step": "b", "run": 1, "pid": 12, "start": 1.9, "end": 2.5, "exit": 3}]},
        duration_s=3.2)
    assert (t.attempts, t.kills, t.resumes) == (3, 1, 1)
    inv = [b for b in t.bars if b.cls.startswith("inv")]
    assert len({b.y for b in inv}) == 2  # the concurrent second run gets its own row
    steps = [b for b in t.bars if not b.cls.startswith("inv")]
    assert [b.cls for b in steps] == ["killed", "ok", "failed"]
    killed = steps[0]
    assert killed.x + killed.w == pytest.approx(timeline.GUTTER + timeline.PLOT * 1.2 / t.span_s)
    assert [lane.label for lane in t.lanes] == ["engine", "", "a", "b"]
    assert all(m.y2 == t.plot_bottom for m in t.markers)
    assert t.ticks[0].label == "0" and t.span_s >= 3.2


def test_timeline_of_a_cell_without_one_is_empty() -> None:
    assert timeline.build(None).empty and timeline.build({"runs": [], "invocations": []}).empty


def test_junit_validates_with_one_failure_per_failed_check(doc: dict[str, Any]) -> None:
    data = junit.to_bytes(doc)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(data))
    root = ET.fromstring(data)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    bad = suites[f"bad{MARKUP}"]
    failures = bad.findall("testcase/failure")
    assert len(failures) == int(bad.get("failures", "")) == 3
    assert root.get("failures") == "3" and suites["good"].get("failures") == "0"
    assert all("reproduce: harness score" in (f.text or "") for f in failures)
    assert "\x00" not in data.decode() and "\x1b" not in data.decode()


def test_junit_reports_infra_errors_as_errors(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    for chk in d["candidates"]["good"]["checks"]:
        chk["outcome"], chk["detail"] = "infra_error", "the daemon went away"
    data = junit.to_bytes(rejudged(d))
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(data))
    good = next(s for s in ET.fromstring(data).iter("testsuite") if s.get("name") == "good")
    assert good.get("errors") == "4" and good.get("failures") == "0"
    assert len(good.findall("testcase/error")) == 4


def test_csv_has_one_row_per_check_result(doc: dict[str, Any]) -> None:
    frame = pd.read_csv(io.BytesIO(table.to_bytes(doc)))
    assert list(frame.columns) == table.COLUMNS
    assert len(frame) == sum(len(c["checks"]) for c in doc["candidates"].values())
    bad = frame[frame.candidate == f"bad{MARKUP}"]
    judged = bad[bad.check != "files.regular"]  # which holds: it planted no link
    assert set(judged.outcome) == {"fail"} and bad.reproduce.str.startswith("harness score").all()


def test_baseline_lists_regressions_fixes_and_infra_apart(doc: dict[str, Any]) -> None:
    old = copy.deepcopy(doc)
    good_old = old["candidates"]["good"]["checks"]
    good_old[0]["outcome"] = "fail"  # fixed since
    bad_old = old["candidates"][f"bad{MARKUP}"]["checks"]
    bad_old[0]["outcome"] = "pass"  # regressed since
    bad_old[1]["outcome"] = "infra_error"  # not a change of the candidate's
    d = diff(doc, rejudged(old))
    assert [(c.candidate, c.check) for c in d.of_kind("fix")] == [("good", good_old[0]["check"])]
    assert [c.check for c in d.of_kind("regression")] == [bad_old[0]["check"]]
    assert [c.check for c in d.of_kind("infra")] == [bad_old[1]["check"]]
    assert d.added == d.removed == ()


def test_report_files_are_written_together(tmp_path: Path, doc: dict[str, Any]) -> None:
    written = write_report(doc, tmp_path / "out", doc, "same.json")
    assert written.html.read_text().count('id="baseline"') == 1
    assert written.csv.exists() and written.junit.exists()
    assert oct(written.html.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"{not json", "not JSON"),
    (b"[]", "expected an object"),
    (b'{"schema_version": 1}', "schema_version 1"),
    (b'{"schema_version": 2, "seed": 1}', "'runner' is a required property"),
])
def test_bad_results_files_are_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReportInputError, match=message) as info:
        results_doc.load(path)
    assert str(path) in str(info.value)


def test_a_broken_check_entry_is_named(tmp_path: Path, doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    del d["candidates"]["good"]["checks"][1]["evidence"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ReportInputError,
                       match=r"candidates\.good\.checks\[1\]: 'evidence' is a required property"):
        results_doc.load(path)


def test_cap_reasons_are_said_once_per_check_with_their_scenarios() -> None:
    caps = [{"capability": "durable_log", "check": "log.append_only", "scenario": s,
             "reason": "..."} for s in ("crash-loop", "torn-tail")]
    cand = {"profiles": {"a": {"caps": caps}, "b": {"caps": caps[:1]}}}
    assert view.cap_reasons(cand) == (
        "log.append_only (fatal) failed in crash-loop, torn-tail: durable_log is a core"
        " capability the candidate claims",)


def test_an_unknown_outcome_is_named(tmp_path: Path, doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["candidates"]["good"]["checks"][0]["outcome"] = "maybe"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ReportInputError, match=r"checks\[0\]\.outcome: 'maybe' is not one of"):
        results_doc.load(path)


def test_the_results_schema_ships_and_a_real_run_matches_it(doc: dict[str, Any]) -> None:
    assert results_doc.SCHEMA.is_file()
    assert results_doc.schema()["properties"]["schema_version"] == {"const": 2}
    results_doc.validate(copy.deepcopy(doc), "test")  # make_doc's runs are real cells


@pytest.mark.parametrize("path, value, message", [
    (("cells", 0, "timeline"), "a picture", r"candidates\.good\.cells\[0\]\.timeline: 'a picture' is"
     r" not of type 'object'"),
    (("cells", 0, "timeline", "invocations"), {"run 1": 0},
     r"candidates\.good\.cells\[0\]\.timeline\.invocations: .* is not of type 'array'"),
    (("checks", 0, "evidence"), "it broke", r"candidates\.good\.checks\[0\]\.evidence: 'it broke' is not"
     r" of type 'array'"),
    (("checks", 0, "evidence"), [["x"]], r"checks\[0\]\.evidence\[0\]: \['x'\] is not of type 'object'"),
    (("score",), "ten", r"candidates\.good\.score: 'ten' is not of type 'number', 'null'"),
    (("profiles", "balanced", "score"), "ten", r"profiles\.balanced\.score: 'ten' is not of type"),
    (("checks", 0, "outcome"), "not_exercised", None),  # the outcome another check family adds
])
def test_a_results_file_of_the_wrong_shape_names_the_path(
        tmp_path: Path, doc: dict[str, Any], path: tuple[Any, ...], value: Any,
        message: str | None) -> None:
    d = copy.deepcopy(doc)
    target = d["candidates"]["good"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    file = tmp_path / "r.json"
    file.write_text(json.dumps(d))
    if message is None:
        results_doc.load(file)
        return
    with pytest.raises(ReportInputError, match=message) as info:
        results_doc.load(file)
    assert "\n" not in str(info.value)


UNEXERCISED = "no kill landed before the engine finished, and every step had already run to success"


def with_not_exercised(doc: dict[str, Any], name: str = "good") -> dict[str, Any]:
    """doc with the first check of `name` not exercised, as a results.json would say it."""
    d = copy.deepcopy(doc)
    cand = d["candidates"][name]
    chk = cand["checks"][0]
    chk["outcome"], chk["detail"] = "not_exercised", UNEXERCISED
    chk["evidence"] = [{"expected": f"what {chk['check']} guards happens at least once",
                        "seen": UNEXERCISED, "where": "cell", "excerpt": ""}]
    cand["tally"] = {o: sum(c["outcome"] == o for c in cand["checks"])
                     for o in ("pass", "fail", "infra_error", "not_exercised")}
    return results_doc.validate(rejudged(d), "test")


def test_junit_reports_a_check_not_exercised_as_skipped_with_why(doc: dict[str, Any]) -> None:
    d = with_not_exercised(doc)
    data = junit.to_bytes(d)
    xmlschema.XMLSchema(str(SCHEMA)).validate(io.BytesIO(data))
    good = next(s for s in ET.fromstring(data).iter("testsuite") if s.get("name") == "good")
    skipped = good.findall("testcase/skipped")
    assert good.get("skipped") == "1" and good.get("failures") == good.get("errors") == "0"
    assert len(skipped) == 1 and UNEXERCISED in skipped[0].get("message", "")
    assert good.findall("testcase/failure") == [] and good.findall("testcase/error") == []


def test_the_report_shows_checks_not_exercised_apart(doc: dict[str, Any]) -> None:
    d = with_not_exercised(doc)
    check = d["candidates"]["good"]["checks"][0]["check"]
    r = view.build(d)
    good = next(c for c in r.candidates if c.name == "good")
    assert [(k.check, k.detail) for k in good.not_exercised] == [(check, UNEXERCISED)]
    assert check not in good.passed and not good.failing
    assert "3 passed, 0 failed, 1 not exercised" in good.tally
    row = next(x for x in r.leaderboard if x.name == "good")
    assert (row.passed, row.failed, row.not_exercised, row.infra) == (3, 0, 1, 0)
    assert r.not_exercised_total == 1
    page = html.render(r)
    assert "Not exercised (1)" in page and UNEXERCISED in page and "3/0/1/0" in page
    frame = pd.read_csv(io.BytesIO(table.to_bytes(d)))
    assert list(frame[frame.candidate == "good"].outcome).count("not_exercised") == 1


def test_baseline_lists_a_check_not_exercised_apart_never_as_a_fix(doc: dict[str, Any]) -> None:
    bad = f"bad{MARKUP}"
    now = with_not_exercised(doc, bad)  # failed in the baseline, not exercised now
    d = diff(now, doc)
    assert d.of_kind("fix") == d.of_kind("regression") == ()
    assert [(c.before, c.after) for c in d.of_kind("not_exercised")] == [("fail", "not_exercised")]
    assert [k for k, _ in view.build(now, d).baseline.other] == ["not_exercised"]  # type: ignore[union-attr]


def test_the_report_says_plainly_when_design_intent_was_not_judged() -> None:
    from harness.report.view import intent_note

    unjudged = {"intent": {"language_known": False,
                           "withheld": "design intent not judged: no signals for zig"}}
    assert intent_note(unjudged) == ("Design intent not judged: no signals for zig;"
                                     " every profile scores execution alone")
    withheld = {"intent": {"language_known": True, "withheld": "no step ran"}}
    assert intent_note(withheld) == "Design intent not credited: no step ran"
    assert intent_note({"intent": {"language_known": True, "withheld": ""}}) == ""
