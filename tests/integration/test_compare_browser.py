"""compare.html in a real browser: one real run (the bundled reference and model-a in
clean-run, local runner) merged with a synthetic run, rendered in headless Chromium. It
must load with no console error and no request beyond the file itself, show the
leaderboard's interval bars (SVG) and the capability heatmap with its numbers, not
scroll sideways, and link each real candidate to its section of its run's index.html."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import __version__
from harness.report.browser import chromium_path, render
from tests.results_docs import candidate, document, write

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None,
                                 reason="no chromium here (make browser installs Debian's)")]

PROBES = {
    "bars": "document.querySelectorAll('#groups svg.ci').length",
    "bar_parts": "[...document.querySelectorAll('#groups svg.ci')].map(s =>"
                 " [s.querySelectorAll('circle.mean').length, s.getAttribute('aria-label')])",
    "rows": "document.querySelectorAll('#groups tbody tr').length",
    "heat_rows": "document.querySelectorAll('#heatmap tbody tr').length",
    "heat_text": "[...document.querySelectorAll('#heatmap td.rate')].map(td => td.innerText)",
    "pairs": "[...document.querySelectorAll('#pairs td.verdict')].map(td => td.innerText)",
    "resources": "performance.getEntriesByType('resource').map(e => e.name)",
    "absolute": "[...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src')"
                " || e.getAttribute('href')).filter(u => /^[a-z][a-z0-9+.-]*:/i.test(u))",
    "links": "[...document.querySelectorAll('#groups .members a')].map(a => a.getAttribute('href'))",
    "scripts": "document.scripts.length",
    "scroll": "document.documentElement.scrollWidth - window.innerWidth",
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("compare")
    real = base / "real"
    p = subprocess.run([sys.executable, "-m", "harness", "score", "reference", "model-a",
                        "--runner", "local", "--scenario", "clean-run", "--out", str(real)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode in (0, 1), p.stderr[-2000:]  # 1: below --fail-under, never here
    checks = [(0, "clean-run", "log_durable", "durable_log", "fatal", "pass"),
              (0, "clean-run", "order_kept", "dependency_order", "major", "fail")]
    headline = json.loads((real / "results.json").read_text())["headline_profile"]
    synthetic = [candidate(f"synth-{i}", [s], checks, {"model": "synthetic"}, profile=headline)
                 for i, s in enumerate([5.0, 6.0, 5.5])]
    write(base / "synthetic", document(synthetic, harness_version=__version__,
                                       scenarios=["clean-run"], profile=headline))
    out = base / "cmp"
    p = subprocess.run([sys.executable, "-m", "harness", "compare", str(real),
                        str(base / "synthetic"), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return out


def test_compare_page_loads_offline_with_its_parts(pages: Path) -> None:
    page = render(pages / "compare.html", height=1000, probes=PROBES)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "compare.png").write_bytes(page.screenshot)
    assert page.console_errors == () and page.dialogs == ()
    v = page.values
    doc = json.loads((pages / "compare.json").read_text())
    scored = [g for g in doc["groups"] if g["mean"] is not None]
    assert v["rows"] == len(doc["groups"]) == 3  # human, Qwen3-Coder (reconstruction), synthetic
    assert v["bars"] == len(scored) and all(n == 1 and label for n, label in v["bar_parts"])
    assert v["heat_rows"] > 0 and all(re.fullmatch(r"\d+%\n\d+/\d+|\u2014", t)
                                      for t in v["heat_text"]), v["heat_text"]
    assert len(v["pairs"]) == 3 and all(v["pairs"])
    assert v["resources"] == [] and v["absolute"] == [] and v["scripts"] == 0
    assert v["scroll"] <= 0


def test_each_real_candidate_links_to_its_evidence(pages: Path) -> None:
    links = render(pages / "compare.html", probes={"links": PROBES["links"]},
                   screenshot=False).values["links"]
    assert len(links) == 2  # reference and model-a; the synthetic run has no index.html
    for href in links:
        target, _, anchor = href.partition("#")
        assert not Path(target).is_absolute() and anchor
        page = (pages / target).resolve()
        assert page.name == "index.html" and f'id="{anchor}"' in page.read_text()
