"""No reward for doing nothing: two hostile fixtures scored on the full suite.

tests/fixtures/do-nothing exits 0 and writes nothing; tests/fixtures/fake-success forges
a two-line log with the right digest, prints PASS, answers status with "succeeded",
claims all 13 capabilities and names every design signal, but never runs a step. Both
are scored through the CLI under the local runner, as a user would. Each must score at
most 1.0 under every profile; the fatal completion checks must fail with the audit as
evidence; and no check may call itself "not exercised" for them, since every
precondition they missed is one the contract demands of an engine (a valid workflow's
steps run), never one only the harness's fault schedule missed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
NAMES = ("do-nothing", "fake-success")
NO_STEP = "no step ran: the audit has no probe start"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("doing-nothing")
    p = subprocess.run([sys.executable, "-m", "harness", "score",
                        *(str(FIXTURES / n) for n in NAMES), "--runner", "local",
                        "--seed", "1", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    result: dict[str, Any] = json.loads((out / "results.json").read_text())
    return result


@pytest.mark.parametrize("name", NAMES)
def test_it_scores_at_most_one_under_every_profile(doc: dict[str, Any], name: str) -> None:
    c = doc["candidates"][name]
    assert set(c["profiles"]) == set(doc["profiles"])
    scores = {p: v["score"] for p, v in c["profiles"].items()}
    assert all(s is not None and s <= 1.0 for s in scores.values()), scores
    assert c["execution_score"] <= 1.0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("check", ["dag.exit_zero", "crash.completes"])
def test_the_fatal_completion_checks_fail_on_the_audit(doc: dict[str, Any], name: str,
                                                       check: str) -> None:
    runs = [x for x in doc["candidates"][name]["checks"] if x["check"] == check]
    assert runs and all(x["outcome"] == "fail" for x in runs)
    if name == "fake-success":  # exit 0 and WORKFLOW_SUCCEEDED: only the audit tells
        assert all(any(e["seen"] == NO_STEP and e["where"] == "audit" for e in x["evidence"])
                   for x in runs), [x["evidence"] for x in runs]


@pytest.mark.parametrize("name", NAMES)
def test_nothing_it_missed_is_called_not_exercised(doc: dict[str, Any], name: str) -> None:
    c = doc["candidates"][name]
    assert c["tally"]["not_exercised"] == 0
    assert [x for x in c["checks"] if x["outcome"] == "not_exercised"] == []


def test_the_forgery_passes_nothing_and_its_design_signals_earn_nothing(
        doc: dict[str, Any]) -> None:
    c = doc["candidates"]["fake-success"]
    # files.regular alone holds: the forged log really is a regular file within its cap.
    passed = {x["check"] for x in c["checks"] if x["outcome"] == "pass"}
    assert passed <= {"files.regular"}
    # Read from the syntax tree, its names no longer pass for design (the line regexes
    # gave it 10); what it really does (fsync, flock, truncate...) still earns nothing.
    assert 0 < c["intent"]["signalled"] < 10.0 and c["intent_score"] == 0.0
    assert "no step" in c["intent"]["withheld"]
    # Its claims are all refuted, and the fatal cap of the core capabilities applies.
    assert {m["state"] for m in c["matrix"].values()} == {"claimed_refuted"}
    assert all(p["capped"] for p in c["profiles"].values())
    status = [x for x in c["checks"] if x["check"] == "status.matches"]
    assert status and all(x["outcome"] == "fail" for x in status)
