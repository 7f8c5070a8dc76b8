"""--fail-on-regression end to end with the local runner: a baseline of the reference,
then a mutant in its place (the same candidate name, another engine), gated on it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import api

pytestmark = pytest.mark.slow

HARNESS = [sys.executable, "-m", "harness"]


def engine_folder(dest: Path, source: Path, extends: Path | None = None) -> Path:
    """source's files in dest, named `engine` (and extending `extends`, for a mutant)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
    rename(dest, "engine", extends)
    return dest


def rename(folder: Path, name: str, extends: Path | None = None) -> None:
    """folder's manifest names the candidate `name` (and extends `extends`, if given)."""
    manifest = folder / "candidate.toml"
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', manifest.read_text(), flags=re.M)
    if extends is not None:
        text = re.sub(r'^extends = ".*"$', f'extends = "{extends}"', text, flags=re.M)
    manifest.write_text(text)


def score(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HARNESS, "score", str(folder), "--runner", "local", "--scenario",
                           "clean-run", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, cwd=api.ROOT)


def test_a_mutant_in_the_references_place_fails_on_its_aimed_check(tmp_path: Path) -> None:
    reference = api.ROOT / "candidates" / "reference"
    folder = engine_folder(tmp_path / "engine", reference)
    base = score(folder, tmp_path / "base")
    assert base.returncode == 0, base.stderr
    baseline = tmp_path / "base" / "results.json"
    assert json.loads(baseline.read_text())["candidates"]["engine"]["score"] == 10.0

    same = score(folder, tmp_path / "same", "--baseline", str(baseline), "--fail-on-regression")
    assert same.returncode == 0 and f"no regression since {baseline}" in same.stderr, same.stderr

    engine_folder(folder, api.ROOT / "candidates" / "mutants" / "deps-ignored", extends=reference)
    now = score(folder, tmp_path / "now", "--baseline", str(baseline), "--fail-on-regression")
    assert now.returncode == 1, now.stderr
    assert "regression(s) since" in now.stderr
    assert "engine: dag.dependency_order (fails in clean-run)" in now.stderr, now.stderr
    # without the flag the baseline only shows in the report: no gate
    shown = score(folder, tmp_path / "shown", "--baseline", str(baseline))
    assert shown.returncode == 0, shown.stderr
