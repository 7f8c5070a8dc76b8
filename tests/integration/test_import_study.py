"""The example study end to end: `harness import` of tests/data/predictions.jsonl, then
`harness score` of the folder of folders it wrote, as a user runs both."""

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
def test_the_imported_example_study_scores_with_its_origin(tmp_path: Path) -> None:
    study, out = tmp_path / "study", tmp_path / "run"
    p = harness("import", str(ROOT / "tests" / "data" / "predictions.jsonl"), "--into", str(study))
    assert p.returncode == 0, p.stderr
    assert "wrote 9 candidate folder(s) for 3 model(s)" in p.stdout
    p = harness("score", str(study), "--runner", "local", "--scenario", "clean-run",
                "--jobs", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr
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
