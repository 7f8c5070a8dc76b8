"""`harness score --trials K` on real engines: an engine built to fail at random comes out
flaky, and the reference never does.

The coinflip fixture (tests/fixtures/coinflip) is the reference engine that, on each
`run`, leaves a stray file in outputs/ with probability 1/2 from os.urandom: the seed
cannot fix it, so trials of one cell disagree. The reference is judged by the same
checks over many trials of the timing-sensitive scenarios, and must never disagree with
itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.report.browser import chromium_path, render

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COINFLIP = ROOT / "tests" / "fixtures" / "coinflip"
TRIALS = 20


def score(out: Path, *args: str, trials: int = TRIALS) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-m", "harness", "score", *args, "--trials", str(trials),
                        "--runner", "local", "--jobs", "2", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert f"x {trials} trial(s)" in p.stderr, p.stderr[-3000:]  # the cell count says trials
    doc: dict[str, Any] = json.loads((out / "results.json").read_text())
    return doc


@pytest.fixture(scope="module")
def coinflip_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coinflip")
    score(out, str(COINFLIP), "--scenario", "clean-run")
    return out


def test_a_check_of_an_engine_that_fails_at_random_is_flaky(coinflip_run: Path) -> None:
    """coinflip over clean-run, 20 trials. outputs.no_temp passes on tails and fails on
    heads; the chance that 20 fair coin flips all agree (all heads or all tails) is
    2 x 2^-20 = 2^-19, so this test fails by bad luck about once in 524288 runs."""
    tmp_path = coinflip_run
    doc = json.loads((tmp_path / "results.json").read_text())
    cand = doc["candidates"]["coinflip"]
    assert doc["trials"] == cand["trials"] == TRIALS
    assert len(cand["per_trial"]) == TRIALS and len(cand["cells"]) == TRIALS
    assert sorted({c["trial"] for c in cand["cells"]}) == list(range(TRIALS))
    rate = cand["check_rates"]["outputs.no_temp"]
    assert rate["passed"] + rate["failed"] == TRIALS and 0 < rate["passed"] < TRIALS
    assert cand["flaky"] == [{"check": "outputs.no_temp", "scenario": "clean-run",
                              "passed": rate["passed"], "failed": rate["failed"]}]
    scores = [t["score"] for t in cand["per_trial"]]
    assert scores.count(10.0) == rate["passed"] and min(scores) < 10.0  # heads costs points
    lo, hi = cand["score_interval"]
    assert lo < cand["score"] < hi
    assert cand["score"] == pytest.approx(sum(scores) / TRIALS)
    page = (tmp_path / "index.html").read_text()
    assert "1 flaky" in page and 'class="flaky-mark"' in page
    assert f"flaky: {rate['passed']} of {TRIALS} trials passed" in page
    junit = (tmp_path / "junit.xml").read_text()
    assert f"flaky ({rate['passed']} of {TRIALS} trials passed)" in junit


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None,
                    reason="no chromium here (make browser installs Debian's)")
def test_the_flaky_mark_is_visible_in_a_browser(coinflip_run: Path) -> None:
    """The page, rendered: the flaky check is marked where its failure is shown, the
    candidate's flaky count and its score's interval are on screen."""
    text = "document.body.innerText"
    page = render(coinflip_run / "index.html", screenshot=False, probes={
        "marks": "[...document.querySelectorAll('.flaky-mark')].filter(e => e.offsetParent"
                 " !== null).map(e => e.textContent)",
        "count": f"{text}.includes('1 flaky')",
        "interval": f"{text}.includes('\u00b1')",
        "ids": "new Set([...document.querySelectorAll('[id]')].map(e => e.id)).size =="
               " document.querySelectorAll('[id]').length"})
    assert page.console_errors == () and page.dialogs == ()
    marks = page.values["marks"]
    assert marks and all("trials passed" in m or m == "flaky" for m in marks)
    assert page.values["count"] and page.values["interval"] and page.values["ids"]


@pytest.mark.parametrize("trials", [
    8, pytest.param(TRIALS, marks=pytest.mark.exhaustive, id="20")])
def test_the_reference_is_never_flaky(tmp_path: Path, trials: int) -> None:
    """The reference, many trials each of crash-loop and retry-backoff (their verdicts
    hang on when the harness's kills and the engine's backoff land) and of corrupt-middle,
    a fast one: no check is flaky and every trial scores 10. `make test` runs 8 trials,
    beside the suite's other runs of the reference on every scenario; `make test-all` runs
    20, and `bench/bench_reliability.py reference --runs 20` scores the reference on every
    scenario (README, bench/reliability.json)."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    for name in ("crash-loop", "retry-backoff", "corrupt-middle"):
        (scenarios / f"{name}.toml").write_bytes((ROOT / "scenarios" / f"{name}.toml").read_bytes())
    doc = score(tmp_path / "out", "reference", "--scenarios", str(scenarios), trials=trials)
    cand = doc["candidates"]["reference"]
    assert len(cand["cells"]) == 3 * trials
    assert cand["flaky"] == []
    assert [t["score"] for t in cand["per_trial"]] == [10.0] * trials
    assert not any(t["fatal_failed"] for t in cand["per_trial"])
    assert cand["score"] == 10.0 and cand["score_interval"] == [10.0, 10.0]
    assert all(r["failed"] == 0 for r in cand["check_rates"].values())


def test_more_trials_resume_the_ones_already_run(tmp_path: Path) -> None:
    """A trial is part of a cell's key: asking for a third trial with --resume runs only it,
    and each trial's cell names the seed that reproduces it."""
    base = [sys.executable, "-m", "harness", "score", "reference", "--scenario",
            "corrupt-middle", "--runner", "local", "--jobs", "1", "--out", str(tmp_path)]
    first = subprocess.run([*base, "--trials", "2"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    more = subprocess.run([*base, "--trials", "3", "--resume"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert more.returncode == 0, more.stderr[-2000:]
    assert "3 cell(s), 2 already done in results.sqlite, 1 to run" in more.stderr
    assert "corrupt-middle trial 2" in more.stderr and "corrupt-middle trial 1 " not in more.stderr
    cand = json.loads((tmp_path / "results.json").read_text())["candidates"]["reference"]
    assert [c["trial"] for c in cand["cells"]] == [0, 1, 2] and len(cand["per_trial"]) == 3
    seeds = [c["seed"] for c in cand["cells"]]
    assert len(set(seeds)) == 3 and seeds[0] == 1
    assert all(f"--seed {c['seed']} " in c["reproduce"] for c in cand["cells"])
