"""examples/ci/github-actions.yml, run step by step on this machine, as a hosted runner would.

No hosted runner is reachable here, so this test is one: it reads the workflow file,
runs each `run:` step with bash (`-eo pipefail`, as Actions does) in a checkout where a
pull request changed a candidate folder, with GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and
`${{ }}` expressions as Actions gives them, and stands in for the four `uses:` actions
(checkout: the checkout is made here; setup-python: this Python; cache: a folder kept
between the two jobs; upload-artifact: the files must exist). An expression, an `if:` or
an action it does not know fails the test, so the example cannot drift from what this
test runs.

Two pull requests against a base commit whose candidates/engine is the reference:
- one replaces the engine with a mutant (dependencies ignored): the job fails, and the
  score step names the mutant's aimed check as a regression;
- one only edits the engine's description: the job passes, with the report and JUnit
  file uploaded and the summary written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import api
from tests.integration.test_regression_gate import rename

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WORKFLOW = api.ROOT / "examples" / "ci" / "github-actions.yml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SELECT = "--scenario clean-run"  # the mutant's aimed check fails there; keeps the test short


@dataclass
class Job:
    """One run of the workflow's job: its steps' outputs and logs, and its result."""

    workspace: Path
    env: dict[str, str]
    cache: dict[str, Path]  # actions/cache: key -> the saved folder
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    failed: str = ""  # the first failed step's name
    uploaded: list[Path] = field(default_factory=list)

    def expr(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            e = m.group(1)
            if e == "github.event.pull_request.base.sha":
                return self.env["BASE_SHA"]
            got = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", e)
            if got:
                return self.outputs.get(got.group(1), {}).get(got.group(2), "")
            raise AssertionError(f"{WORKFLOW.name}: an expression this test does not know: {e}")
        return EXPR.sub(one, text)

    def should_run(self, step: Mapping[str, Any]) -> bool:
        cond = str(step.get("if", "success()")).strip()
        if cond == "always()":
            return True
        if cond == "success()":
            return not self.failed
        got = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+) != ''", cond)
        if got:
            return not self.failed and bool(self.outputs.get(got.group(1), {}).get(got.group(2)))
        raise AssertionError(f"{WORKFLOW.name}: an `if:` this test does not know: {cond}")

    def home(self, path: str) -> Path:
        return Path(path.replace("~", self.env["HOME"], 1))

    def uses(self, step: Mapping[str, Any]) -> None:
        action, args = str(step["uses"]).split("@")[0], step.get("with", {})
        if action == "actions/checkout":
            assert args.get("fetch-depth") == 0, "the base commit is needed to compare with"
        elif action == "actions/setup-python":
            assert sys.version_info[:2] >= tuple(map(int, str(args["python-version"]).split(".")))
        elif action == "actions/cache":
            path, key = self.home(str(args["path"])), self.expr(str(args["key"]))
            assert key.startswith("harness-image-harness/base:"), key
            if key in self.cache:
                shutil.copytree(self.cache[key], path, dirs_exist_ok=True)
            self.env["CACHE_PATH"], self.env["CACHE_KEY"] = str(path), key
        elif action == "actions/upload-artifact":
            for line in str(args["path"]).split():
                found = self.workspace / line
                assert found.is_file(), f"artifact {line} was not written"
                self.uploaded.append(found)
        else:
            raise AssertionError(f"{WORKFLOW.name}: an action this test does not stand in for:"
                                 f" {action}")

    def run(self, step: Mapping[str, Any]) -> None:
        name = str(step.get("name") or step.get("uses"))
        out, summary = self.workspace / ".gh_output", self.workspace / ".gh_summary"
        out.write_text("")
        script = self.expr(str(step["run"]))
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=self.workspace, capture_output=True, text=True, timeout=600,
                              env={**self.env, "GITHUB_OUTPUT": str(out),
                                   "GITHUB_STEP_SUMMARY": str(summary)})
        self.logs[name] = proc.stdout + proc.stderr
        if "id" in step:
            self.outputs[str(step["id"])] = dict(
                line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        if proc.returncode != 0 and not self.failed:
            self.failed = name


def run_job(workspace: Path, base_sha: str, home: Path, cache: dict[str, Path]) -> Job:
    flow = yaml.safe_load(WORKFLOW.read_text())
    [(_, job_doc)] = flow["jobs"].items()
    env = {**os.environ, **{k: str(v) for k, v in flow.get("env", {}).items()},
           "HARNESS_SELECT": SELECT, "BASE_SHA": base_sha, "HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    job = Job(workspace, env, cache)
    for step in job_doc["steps"]:
        if not job.should_run(step):
            continue
        if "uses" in step:
            job.uses(step)
        else:
            job.run(step)
    if "CACHE_KEY" in job.env and Path(job.env["CACHE_PATH"]).is_dir():  # the cache's post step
        saved = home.parent / f"cache-{len(cache)}"
        shutil.copytree(job.env["CACHE_PATH"], saved)
        cache.setdefault(job.env["CACHE_KEY"], saved)
    return job


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A checkout whose base commit has candidates/engine = the reference."""
    ws = tmp_path_factory.mktemp("checkout")
    shutil.copytree(api.ROOT / "examples", ws / "examples")
    shutil.copytree(api.ROOT / "candidates" / "reference", ws / "candidates" / "engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    rename(ws / "candidates" / "engine", "engine")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    return ws, git(ws, "rev-parse", "HEAD")


def pull_request(repo: tuple[Path, str], branch: str, change: Any) -> Path:
    ws, base = repo
    git(ws, "checkout", "-q", "-B", branch, base)
    change(ws / "candidates" / "engine")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", branch)
    return ws


def to_mutant(engine: Path) -> None:
    """The engine folder becomes the deps-ignored mutant, still named engine."""
    for f in list(engine.iterdir()):
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    mutant = api.ROOT / "candidates" / "mutants" / "deps-ignored"
    for f in mutant.iterdir():
        shutil.copy(f, engine / f.name)
    rename(engine, "engine", extends=api.ROOT / "candidates" / "reference")


def harmless(engine: Path) -> None:
    manifest = engine / "candidate.toml"
    manifest.write_text(manifest.read_text().replace('description = "', 'description = "(PR) ', 1))


def test_a_pull_request_that_breaks_the_engine_fails_on_the_regression(
        repo: tuple[Path, str], tmp_path: Path) -> None:
    ws = pull_request(repo, "break", to_mutant)
    job = run_job(ws, repo[1], tmp_path / "home", {})
    assert job.outputs["changed"] == {"candidates": "candidates/engine"}
    score = job.logs["Score them now (fails on --fail-under or a regression)"]
    assert job.failed == "Score them now (fails on --fail-under or a regression)", job.logs
    assert "regression(s) since" in score and "engine: dag.dependency_order" in score, score
    summary = (ws / ".gh_summary").read_text()
    assert "dag.dependency_order" in summary and "partial" in summary, summary
    assert [p.name for p in job.uploaded] == ["index.html", "junit.xml"]


def test_a_harmless_pull_request_passes_and_a_second_job_loads_the_cached_image(
        repo: tuple[Path, str], tmp_path: Path) -> None:
    ws = pull_request(repo, "harmless", harmless)
    cache: dict[str, Path] = {}
    first = run_job(ws, repo[1], tmp_path / "home1", cache)
    assert not first.failed, first.logs
    assert "no regression since" in first.logs["Score them now (fails on --fail-under or a regression)"]
    assert len(cache) == 1 and any(p.name == "base.tar" for p in next(iter(cache.values())).iterdir())
    second = run_job(ws, repo[1], tmp_path / "home2", cache)  # the cache restored this time
    assert not second.failed, second.logs
    assert (tmp_path / "home2" / ".cache" / "harness-image" / "base.tar").is_file()
    summary = (ws / ".gh_summary").read_text()
    assert "| engine (partial: 1 of" in summary and "| 10.0 |" in summary, summary
