"""`harness compare` as a user runs it, on synthetic runs (no engine): what it writes and
prints, what it refuses (exit 2, one line, nothing written) and what --allow-mixed lets
through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from harness import cli
from tests.results_docs import write
from tests.unit.test_groups import study

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def harness(*args: str | Path) -> Ran:
    """`harness compare ARGS` in this process (click's runner: the same command, its exit
    code and both streams, without a Python start-up per call)."""
    r = CliRunner().invoke(cli.main, ["compare", *map(str, args)])
    return Ran(r.exit_code, r.stdout, r.stderr)


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    docs = study()
    return write(tmp_path / "run-a", docs[0]), write(tmp_path / "run-b", docs[1])


def refused(p: Ran, out: Path, *words: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("error:")
    assert all(w in p.stderr for w in words), p.stderr
    assert not out.exists()  # nothing written, not even the folder


def test_outputs_are_written_and_agree(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    p = harness(runs[0], runs[1] / "results.json", "--out", out, "--seed", "3")
    assert p.returncode == 0, p.stderr
    assert "strong vs weak: " in p.stdout and "strong > weak" in p.stdout
    assert "weak vs weak-twin" in p.stdout and "not distinguishable with n = 5, 5" in p.stdout
    doc: dict[str, Any] = json.loads((out / "compare.json").read_text())
    gcsv, pcsv = pd.read_csv(out / "groups.csv"), pd.read_csv(out / "pairs.csv")
    assert doc["group_by"] == "origin.model" and doc["seed"] == 3 and doc["warnings"] == []
    assert list(gcsv["group"]) == [g["group"] for g in doc["groups"]] == [
        "strong", "weak", "weak-twin"]
    for g, row in zip(doc["groups"], gcsv.itertuples(), strict=True):
        assert (row.n, row.mean, row.ci_lo, row.ci_hi) == pytest.approx(
            (g["n"], g["mean"], *g["interval"]))
        assert [m["run"] for m in g["members"]] == [
            str(runs[0 if g["group"] != "weak-twin" else 1] / "results.json")] * 5
    assert list(pcsv["verdict"]) == [p["verdict"] for p in doc["pairs"]]
    assert doc["pairs"][0]["separating"][0]["check"] == "log_durable"
    page = (out / "compare.html").read_text()
    for text in ("strong &gt; weak", "not distinguishable with n = 5, 5", 'id="heatmap"',
                 'class="ci"', "log_durable: 100% vs 0%"):
        assert text in page, text
    again = tmp_path / "again"
    assert harness(*runs, "--out", again, "--seed", "3").returncode == 0
    assert (again / "compare.json").read_text() == (out / "compare.json").read_text()


def test_group_by_another_key(runs: tuple[Path, Path], tmp_path: Path) -> None:
    p = harness(*runs, "--out", tmp_path / "o", "--group-by", "origin.prompt_version")
    assert p.returncode == 0, p.stderr
    assert "v1 > v2" in p.stdout
    refused(harness(*runs, "--out", tmp_path / "x", "--group-by", "model"), tmp_path / "x",
            "origin.KEY")


def test_a_different_harness_version_is_refused_unless_allowed(runs: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    doc = json.loads((runs[1] / "results.json").read_text())
    doc["harness_version"] = "9.9.9"
    write(runs[1], doc)
    out = tmp_path / "cmp"
    refused(harness(*runs, "--out", out), out, "harness_version", "9.9.9", "--allow-mixed",
            str(runs[1] / "results.json"))
    p = harness(*runs, "--out", out, "--allow-mixed")
    assert p.returncode == 0, p.stderr
    assert "warning: harness_version differs" in p.stderr
    assert json.loads((out / "compare.json").read_text())["warnings"][0].startswith(
        "harness_version differs")
    assert "Mixed runs (--allow-mixed): harness_version differs" in (out / "compare.html").read_text()


@pytest.mark.parametrize("change,words", [
    (lambda d: d.update(scenarios=["clean-run", "crash-loop"]), ("scenarios differ",)),
    (lambda d: d.update(trials=3), ("trials differ",)),
    (lambda d: d.update(complete=False, stopped="interrupted"), ("incomplete", "interrupted")),
])
def test_other_differences_are_refused(runs: tuple[Path, Path], tmp_path: Path, change: Any,
                                       words: tuple[str, ...]) -> None:
    doc = json.loads((runs[1] / "results.json").read_text())
    change(doc)
    write(runs[1], doc)
    refused(harness(*runs, "--out", tmp_path / "cmp"), tmp_path / "cmp",
            *(w.replace("differ", "") for w in words))
    assert harness(*runs, "--out", tmp_path / "cmp", "--allow-mixed").returncode == 0


def test_a_candidate_in_two_runs_is_refused(runs: tuple[Path, Path], tmp_path: Path) -> None:
    doc = json.loads((runs[0] / "results.json").read_text())
    doc["candidates"] = {"twin-0": doc["candidates"]["weak-0"] | {"name": "twin-0"}}
    write(tmp_path / "run-c", doc)
    out = tmp_path / "cmp"
    refused(harness(runs[1], tmp_path / "run-c", "--out", out, "--allow-mixed"), out,
            "'twin-0'", "counted twice")
    refused(harness(runs[0], runs[0] / "results.json", "--out", out), out, "named twice")


@pytest.mark.parametrize("content,words", [
    ("{not json", ("not JSON",)),
    (json.dumps({"schema_version": 2, "seed": "x"}), ("required property",)),
    (json.dumps({"schema_version": 1}), ("schema_version 1",)),
])
def test_a_malformed_results_file_exits_2_naming_it(runs: tuple[Path, Path], tmp_path: Path,
                                                   content: str, words: tuple[str, ...]) -> None:
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(content)
    out = tmp_path / "cmp"
    refused(harness(runs[0], bad, "--out", out), out, str(bad), *words)
    refused(harness(runs[0], tmp_path / "nowhere", "--out", out), out,
            str(tmp_path / "nowhere"), "no such file")


def test_partial_runs_compare_with_a_warning_that_says_so(runs: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    """Two runs of the same suite are comparable with each other, but their scores are not
    full-suite scores: every partial run is named in a warning, on the terminal and in
    compare.json."""
    for run in runs:
        doc = json.loads((run / "results.json").read_text())
        doc["coverage"] = {"partial": True, "scenarios": len(doc["scenarios"]), "of": 15,
                           "missing": ["torn-tail"], "suite": "quick", "patterns": [],
                           "says": "ignored: coverage_of rebuilds it"}
        write(run, doc)
    out = tmp_path / "cmp"
    p = harness(*runs, "--out", out)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("is a partial run (partial:") == 2, p.stderr
    assert "(--suite quick)" in p.stderr
    assert sum("partial run" in w for w in json.loads((out / "compare.json").read_text())["warnings"]) == 2
