"""The example study end to end, as the README's worked example runs it: `harness import`
of tests/data/predictions.jsonl, `harness score` of the folder of folders it wrote with
trials, then `harness compare` of that run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_the_imported_example_study_scores_and_compares_as_its_engines_deserve(
        tmp_path: Path) -> None:
    study, out, cmp = tmp_path / "study", tmp_path / "run", tmp_path / "compare"
    p = harness("import", str(ROOT / "tests" / "data" / "predictions.jsonl"), "--into", str(study))
    assert p.returncode == 0, p.stderr
    assert "wrote 9 candidate folder(s) for 3 model(s)" in p.stdout
    p = harness("score", str(study), "--runner", "local", "--scenario", "clean-run",
                "--trials", "2", "--jobs", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "3 models (origin.model): compare them with `harness compare" in p.stderr
    doc = json.loads((out / "results.json").read_text())
    got = {name: (c["origin"]["model"], c["origin"]["sample"])
           for name, c in doc["candidates"].items()}
    assert got == {f"{m}--{s}": (m, str(s)) for m in ("sound-model", "flawed-model",
                                                       "flawed-twin") for s in (1, 2, 3)}
    scores = {name: c["score"] for name, c in doc["candidates"].items()}
    # the reference passes clean-run; the event-names mutant (sample 3) fails log.schema
    assert all(scores[f"sound-model--{s}"] == 10 for s in (1, 2, 3))
    for model in ("flawed-model", "flawed-twin"):
        assert scores[f"{model}--3"] < 10
        failed = {x["check"] for x in doc["candidates"][f"{model}--3"]["checks"]
                  if x["outcome"] == "fail"}
        assert {"log.schema", "status.matches"} <= failed

    # Every sample's two trials agree: these engines are deterministic on clean-run.
    assert all(c["trials"] == 2 and c["flaky"] == [] for c in doc["candidates"].values())

    p = harness("compare", str(out), "--out", str(cmp))
    assert p.returncode == 0, p.stderr
    comparison = json.loads((cmp / "compare.json").read_text())
    groups = {g["group"]: g for g in comparison["groups"]}
    assert [g["group"] for g in comparison["groups"]][0] == "sound-model"
    assert groups["sound-model"]["mean"] == 10
    assert groups["flawed-model"]["mean"] == pytest.approx(groups["flawed-twin"]["mean"], abs=0.2)
    verdicts = {frozenset((x["a"], x["b"])): x["verdict"] for x in comparison["pairs"]}
    # clearly different groups are separated (their interval excludes 0) ...
    assert verdicts[frozenset(("sound-model", "flawed-model"))] == "sound-model > flawed-model"
    assert verdicts[frozenset(("sound-model", "flawed-twin"))] == "sound-model > flawed-twin"
    # ... and two groups of the same engines are not
    assert verdicts[frozenset(("flawed-model", "flawed-twin"))] == \
        "not distinguishable with n = 3, 3"
    assert (cmp / "compare.html").is_file() and (cmp / "groups.csv").is_file()
