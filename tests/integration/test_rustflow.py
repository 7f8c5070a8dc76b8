"""rustflow, the Rust engine written from TASK.md alone, scored end to end through the CLI.

One run of `harness score candidates/rustflow` (local runner, every scenario) backs the
tests: every check passes (none fails, none is left not exercised, no cell hits an infra
error), so execution is 10: a correct engine in a second language scores as the
reference does. The engine is the committed static binary (candidates/rustflow/bin);
`candidates/rustflow/build.sh` rebuilds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import api

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "candidates" / "rustflow"
pytestmark = pytest.mark.slow


def score(runner: str, out: Path) -> dict[str, Any]:
    """results.json of `harness score candidates/rustflow --runner RUNNER` over every
    scenario; fails with the CLI's stderr if it did not finish."""
    assert os.access(CANDIDATE / "bin" / "rustflow", os.X_OK), "run candidates/rustflow/build.sh"
    p = subprocess.run([sys.executable, "-m", "harness", "score", str(CANDIDATE),
                        "--runner", runner, "--seed", "1", "--jobs", "2", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=1500)
    if p.returncode != 0 or "Traceback" in p.stderr:
        pytest.fail(f"harness score failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    doc: dict[str, Any] = json.loads((out / "results.json").read_text())
    return doc


def assert_perfect(doc: dict[str, Any], runner: str) -> None:
    c = doc["candidates"]["rustflow"]
    assert c["language"] == "rust"
    cells = c["cells"]
    assert {cell["scenario"] for cell in cells} == {s.name for s in api.all_scenarios()}
    assert all(cell["runner"] == runner for cell in cells)
    assert [(cell["scenario"], cell["infra_error"]) for cell in cells if cell["infra_error"]] == []
    not_passed = [(x["scenario"], x["check"], x["outcome"], x["evidence"], x["detail"])
                  for x in c["checks"] if x["outcome"] != "pass"]
    assert not_passed == []
    assert c["tally"]["fail"] == c["tally"]["infra_error"] == c["tally"]["not_exercised"] == 0
    assert c["tally"]["pass"] == len(c["checks"]) > 0
    assert c["execution_score"] == 10.0
    # its design is read from the Rust syntax tree: intent 10, so 10 under every profile
    assert c["intent_score"] == 10.0 and c["intent"]["language_known"] is True
    assert {p: v["score"] for p, v in c["profiles"].items()} == {p: 10.0 for p in doc["profiles"]}
    # The crash scenarios struck at exact system calls, not the timed fallback.
    crash_loop = next(cell for cell in cells if cell["scenario"] == "crash-loop")
    assert crash_loop["faults"] and all(f["kind"] == "exact" for f in crash_loop["faults"])


@pytest.fixture(scope="module")
def local_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return score("local", tmp_path_factory.mktemp("rustflow-local"))


def test_rustflow_passes_every_check_under_the_local_runner(local_doc: dict[str, Any]) -> None:
    assert_perfect(local_doc, "local")


def test_rustflow_manifest_claims_everything_and_runs_its_own_binary() -> None:
    from harness.manifest import load_candidate
    from harness.model import CAPABILITIES

    cand = load_candidate(CANDIDATE)
    assert cand.name == "rustflow" and cand.language == "rust"
    assert list(cand.entrypoint) == ["bin/rustflow"]
    assert set(cand.claims) == set(CAPABILITIES)
