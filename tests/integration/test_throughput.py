"""The throughput scenario end to end through the CLI (local runner).

- The reference and model-a over clean-run and throughput: both get figures, the
  reference's ratio to itself is exactly 1 (its own cell is the yardstick), and every
  score is what the same run without the throughput scenario gives.
- A copy of the reference scored without the reference: the run adds one yardstick cell
  of the bundled reference, kept out of the scores, and the copy's ratios, two
  measurements of the same engine in one run, come out near 1 (what the noise allows).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def score(out: Path, *args: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-m", "harness", "score", *args, "--runner", "local",
                        "--seed", "3", "--jobs", "2", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 or "Traceback" in p.stderr:
        pytest.fail(f"harness score failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    doc: dict[str, Any] = json.loads((out / "results.json").read_text())
    doc["stdout"] = p.stdout
    return doc


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenarios")
    for name in ("clean-run", "throughput"):
        shutil.copy(ROOT / "scenarios" / f"{name}.toml", folder)
    return folder


def scores(doc: dict[str, Any]) -> dict[str, Any]:
    return {n: (c["score"], c["execution_score"], c["intent_score"], c["tally"], c["verdicts"],
                {p: v["score"] for p, v in c["profiles"].items()})
            for n, c in doc["candidates"].items()}


def test_figures_exist_and_leave_every_score_as_it_was(scenarios: Path, tmp_path: Path) -> None:
    both = score(tmp_path / "both", "reference", "model-a", "--scenarios", str(scenarios))
    ref, model_a = both["candidates"]["reference"], both["candidates"]["model-a"]
    assert both["yardstick"]["candidate"] == "reference" and both["yardstick"]["scored"] is True
    for name in ("steps_per_s", "status_events_per_s"):
        assert ref["throughput"][name]["value"] > 0 and ref["throughput"][name]["ratio"] == 1.0
    assert model_a["throughput"]["steps_per_s"]["value"] > 0
    assert model_a["throughput"]["steps_per_s"]["ratio"] > 0
    # model-a's status cannot read a log with seq (its event classes take no seq): no
    # figure, with the reason, and nothing counted against it here
    status = model_a["throughput"]["status_events_per_s"]
    assert status["value"] is None and "exit 1" in status["why"]
    assert not any(x["scenario"] == "throughput" for x in model_a["checks"])
    cell = next(c for c in ref["cells"] if c["scenario"] == "throughput")
    assert len(cell["measures"]["steps_per_s"]["walls_s"]) == 3
    assert len(cell["measures"]["status_events_per_s"]["walls_s"]) == 5
    assert "reference throughput: run" in both["stdout"] and "model-a throughput: run" in both["stdout"]
    csv = (tmp_path / "both" / "results.csv").read_text().splitlines()
    assert "steps_per_s,steps_ratio,status_events_per_s,status_ratio" in csv[0]
    assert "run<br>steps/s" in (tmp_path / "both" / "index.html").read_text()

    alone = score(tmp_path / "alone", "reference", "model-a", "--scenarios", str(scenarios),
                  "--scenario", "clean-run")
    assert scores(alone) == scores(both)
    assert all(c["throughput"] is None for c in alone["candidates"].values())


def test_a_copy_of_the_reference_measures_near_one_against_the_yardstick(tmp_path: Path) -> None:
    copy = tmp_path / "reference-copy"
    copy.mkdir()
    (copy / "candidate.toml").write_text(
        f'name = "reference-copy"\nlanguage = "python"\ndescription = "the reference, again"\n'
        f'extends = "{ROOT / "candidates" / "reference"}"\nentrypoint = ["python3", "main.py"]\n')
    doc = score(tmp_path / "out", str(copy), "--scenario", "throughput")
    assert list(doc["candidates"]) == ["reference-copy"]  # the yardstick is not a candidate
    assert doc["yardstick"]["candidate"] == "reference" and doc["yardstick"]["scored"] is False
    t = doc["candidates"]["reference-copy"]["throughput"]
    for name in ("steps_per_s", "status_events_per_s"):
        # the same engine twice in one run: 1 up to the machine's noise (medians of
        # repeats keep one slow repeat from moving it; two cells at a time share 2 cores)
        assert 0.5 < t[name]["ratio"] < 2.0, (name, t, doc["yardstick"])
