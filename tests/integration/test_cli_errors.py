"""Bad input gets a one-line error naming the problem, exit 2, and no traceback."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str, cwd: Path = ROOT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def assert_clean_error(p: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    assert p.stderr.startswith("error:"), p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)


def write(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).mkdir()
    (tmp / name / "candidate.toml").write_text(text)
    return tmp / name


def test_unknown_candidate(tmp_path: Path) -> None:
    assert_clean_error(harness("score", str(tmp_path / "nope")), "no such candidate")


@pytest.mark.parametrize("text, words", [
    ("name = 'x'\nlanguage = 'py'\nentrypoint = 'python3 x.py'\n", ["entrypoint"]),
    ("name = 'x'\nlanguage = 'py'\nentrypoint = ['x']\nclaims = ['flying']\n", ["flying"]),
    ("name = \n", ["cannot be read as TOML"]),
    ("language = 'py'\nentrypoint = ['x']\n", ["'name'"]),
    ("name = 'x'\nlanguage = 'py'\nentrypoint = ['x']\n[docker]\nimgae = 'a'\n", ["imgae"]),
    ("name = 'x'\nlanguage = 'py'\nentrypoint = ['x']\n[docker]\ndockerfile = '../../etc/passwd'\n",
     ["docker.dockerfile", "not a file inside the candidate folder"]),
    ("name = 'x'\nlanguage = 'py'\nentrypoint = ['x']\n[docker]\nworkdir = 'rel'\n",
     ["docker.workdir"]),
])
def test_malformed_manifest_names_file_and_key(tmp_path: Path, text: str, words: list[str]) -> None:
    folder = write(tmp_path, "cand", text)
    before = (folder / "candidate.toml").read_bytes()
    p = harness("score", str(folder))
    assert_clean_error(p, str(folder), *words)
    assert (folder / "candidate.toml").read_bytes() == before


def test_folder_without_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert_clean_error(harness("score", str(tmp_path / "empty")), "no candidate.toml")


@pytest.mark.parametrize("text, words", [
    ("name = 's'\ndescription = 'd'\nprocedure = 'teleport'\n", ["unknown procedure"]),
    ("name = 's'\ndescription = 'd'\nprocedure = 'clean'\n[[checks]]\ncheck = 'nope'\n",
     ["unknown check 'nope'"]),
    ("name = 's'\ndescription = 'd'\nprocedure = 'clean'\n[workflow]\nname = 'w'\n"
     "[[workflow.steps]]\nid = 'a'\nprobe = []\ndepends_on = ['a']\n[[checks]]\ncheck = 'dag.exit_zero'\n",
     ["not a valid workflow", "cycle"]),
    ("name = 's'\ndescription = 'd'\nprocedure = 'invalid_workflow'\n[[params.cases]]\nname = 'ok'\n"
     "text = '{\"name\": \"w\", \"steps\": []}'\n[[checks]]\ncheck = 'inputs.invalid_rejected'\n",
     ["is a valid workflow"]),
    ("name = [\n", ["cannot be read as TOML"]),
])
def test_malformed_scenario_names_file_and_problem(tmp_path: Path, text: str,
                                                   words: list[str]) -> None:
    (tmp_path / "bad.toml").write_text(text)
    p = harness("score", "reference", "--scenarios", str(tmp_path))
    assert_clean_error(p, "bad.toml", *words)


def test_unknown_scenario_pattern() -> None:
    assert_clean_error(harness("score", "reference", "--scenario", "no-such-thing"),
                       "no scenario matches")


NO_DAEMON = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_docker_runner_without_a_daemon_is_a_clear_infra_error(tmp_path: Path) -> None:
    p = harness("score", "reference", "--runner", "docker", "--scenario", "clean-run",
                "--out", str(tmp_path), env=NO_DAEMON)
    assert_clean_error(p, "no Docker daemon answers", code=3)


def test_auto_without_a_daemon_says_it_falls_back_to_local(tmp_path: Path) -> None:
    p = harness("score", "reference", "--scenario", "retry-exhausted", "--out", str(tmp_path),
                env=NO_DAEMON)
    assert p.returncode == 0, p.stderr
    assert "local runner: no Docker daemon answers" in p.stderr
    assert '"runner": "local"' in (tmp_path / "results.json").read_text()


def test_unknown_profile_is_refused_before_anything_runs(tmp_path: Path) -> None:
    p = harness("score", "reference", "--runner", "local", "--profile", "vibes",
                "--out", str(tmp_path / "out"))
    assert_clean_error(p, "--profile vibes", "execution-first", "design-first")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_trials_below_one_are_refused_before_anything_runs(tmp_path: Path, value: str) -> None:
    """click's own refusal, as for --jobs: its usage line, then the bad value, exit 2."""
    p = harness("score", "reference", "--runner", "local", "--trials", value,
                "--out", str(tmp_path / "out"))
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "Invalid value for '--trials': " in p.stderr and value in p.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, words", [
    (None, ["no such file"]),
    ("{oops", ["not JSON"]),
    ('{"schema_version": 1, "candidates": {}}', ["schema_version 1", "reads 2"]),
    ('{"schema_version": 2, "seed": 1, "runner": {}, "scenarios": [], "headline_profile": "x",'
     ' "profiles": {}, "candidates": {"a": {"name": "a"}}}',
     ["candidates.a: 'score' is a required property"]),
])
def test_report_of_a_bad_results_file(tmp_path: Path, content: str | None,
                                      words: list[str]) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    p = harness("report", str(path), "--out", str(tmp_path / "out"))
    assert_clean_error(p, str(path), *words)
    assert not (tmp_path / "out").exists()
    if content is not None:
        assert path.read_text() == content  # the user's file is only read


@pytest.fixture(scope="module")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("real")
    p = harness("score", "reference", "--runner", "local", "--scenario", "clean-run",
                "--out", str(out))
    assert p.returncode == 0, p.stderr
    doc: dict[str, object] = json.loads((out / "results.json").read_text())
    return doc


@pytest.mark.parametrize("where, value, words", [
    (("cells", 0, "timeline"), "12 s", ["candidates.reference.cells[0].timeline:",
                                        "'12 s' is not of type 'object'"]),
    (("checks", 0, "evidence"), {"seen": "x"}, ["candidates.reference.checks[0].evidence:",
                                                "is not of type 'array'"]),
    (("score",), "ten", ["candidates.reference.score:", "'ten' is not of type 'number', 'null'"]),
])
def test_report_of_a_results_file_of_the_wrong_shape(tmp_path: Path, real_results: dict[str, Any],
                                                     where: tuple[Any, ...], value: object,
                                                     words: list[str]) -> None:
    """The broken files of issue 18: exit 2 naming the JSON path, one line, nothing written."""
    doc = copy.deepcopy(real_results)
    target = doc["candidates"]["reference"]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    p = harness("report", str(path), "--out", str(tmp_path / "out"))
    assert_clean_error(p, str(path), *words)
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_report_of_a_real_results_file_passes_the_schema(tmp_path: Path,
                                                         real_results: dict[str, Any]) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(real_results))
    p = harness("report", str(path))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "index.html").is_file()


def test_score_refuses_a_bad_baseline_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text("[]")
    p = harness("score", "reference", "--runner", "local", "--baseline", str(bad),
                "--out", str(tmp_path / "out"))
    assert_clean_error(p, str(bad), "expected an object")
    assert not (tmp_path / "out").exists()
