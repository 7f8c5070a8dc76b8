"""The HTML report in a real browser: Debian's chromium, headless, at 1280x800.

The bundled candidates' report (the session's one `harness score model-a model-b
reference` run) must load with no console errors, show the leaderboard, the matrix and
timelines, be readable (no text overlapping, no horizontal scroll), and lead from the
leaderboard to every failed check's evidence. A hostile engine that writes markup into
its log and stderr must see it shown as text. Screenshots go to reports/screenshots/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.report.browser import chromium_path, render

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None,
                                 reason="no chromium here (make browser installs Debian's)")]

DOM = {
    "leaderboard_rows": "document.querySelectorAll('#leaderboard tbody tr').length",
    "matrix_cells": "[...document.querySelectorAll('#matrix tbody tr')]"
                    ".map(r => r.querySelectorAll('td.cell').length)",
    "timelines": "document.querySelectorAll('svg.timeline').length",
    "timeline_bars": "document.querySelectorAll('svg.timeline rect.ok, svg.timeline rect.failed,"
                     " svg.timeline rect.killed').length",
    "kill_markers": "document.querySelectorAll('svg.timeline line.m-fault').length",
    "scripts": "document.scripts.length",
}
# Text boxes of different elements that intersect, and cells whose content overflows.
OVERLAPS = """(() => {
  const roots = ['#leaderboard', '#matrix', 'section.candidate > h2', 'nav.toc'];
  const boxes = [];
  for (const sel of roots) for (const root of document.querySelectorAll(sel)) {
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(n);
      for (const r of range.getClientRects())
        if (r.width > 0 && r.height > 0) boxes.push([n.parentElement, n.textContent.trim(), r]);
    }
  }
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [ea, ta, a] = boxes[i], [eb, tb, b] = boxes[j];
    if (ea === eb) continue;
    const ix = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const iy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (ix > 1 && iy > 1) out.push(ta.slice(0, 30) + ' | ' + tb.slice(0, 30));
  }
  const cells = document.querySelectorAll('#leaderboard th, #leaderboard td, #matrix th, #matrix td');
  for (const cell of cells)
    if (cell.scrollWidth > cell.clientWidth + 1)
      out.push('overflows: ' + cell.textContent.trim().slice(0, 30));
  return out;
})()"""
SCROLL = """(() => {
  const t = document.getElementById('leaderboard');
  return {page: document.documentElement.scrollWidth - window.innerWidth,
          table: t.scrollWidth - t.clientWidth,
          right: t.getBoundingClientRect().right - window.innerWidth};
})()"""
# For each leaderboard row: click 1 (the candidate's link) reaches its section; the failed
# checks there carry their evidence and reproduce command; the row's own links resolve.
CLICKS = """(() => {
  const res = {};
  for (const row of document.querySelectorAll('#leaderboard tbody tr')) {
    const a = row.querySelector('td.name a');
    const section = document.getElementById(a.getAttribute('href').slice(1));
    const fails = section ? [...section.querySelectorAll('.failure')] : [];
    res[a.textContent] = {
      section: !!section,
      failed: fails.map(x => x.dataset.check + ' @ ' + x.dataset.scenario),
      with_evidence: fails.filter(x => (x.querySelector('dl.ev dd') || x.querySelector('.seen'))
                                       && x.querySelector('.repro code')).length,
      excerpts: section ? section.querySelectorAll('article.check pre.excerpt').length : 0,
      hot_lines: section ? section.querySelectorAll('pre.excerpt span.hot').length : 0,
      links: [...row.querySelectorAll('.fails a')].map(l => {
        const target = document.getElementById(l.getAttribute('href').slice(1));
        return [l.textContent, target ? target.dataset.check : null];
      }),
    };
  }
  return res;
})()"""
SORT = """(() => {
  const th = [...document.querySelectorAll('#leaderboard th.sortable')][1];
  th.click();
  const first = [...document.querySelectorAll('#leaderboard tbody td.name')].map(x => x.textContent);
  th.click();
  const second = [...document.querySelectorAll('#leaderboard tbody td.name')].map(x => x.textContent);
  return [first, second];
})()"""


def scroll_to(anchor: str) -> str:
    return f"document.getElementById({json.dumps(anchor)}).scrollIntoView(); window.scrollY"


@pytest.fixture(scope="module")
def doc(bundled_run: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((bundled_run / "results.json").read_text())
    return result


def test_report_loads_clean_with_its_parts(bundled_run: Path) -> None:
    page = render(bundled_run / "index.html", probes={**DOM, "overlaps": OVERLAPS,
                                                      "scroll": SCROLL})
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "leaderboard.png").write_bytes(page.screenshot)
    assert page.console_errors == () and page.dialogs == ()
    v = page.values
    assert v["leaderboard_rows"] == 3 and v["matrix_cells"] == [13, 13, 13]
    assert v["timelines"] >= 3 * 10 and v["timeline_bars"] > 100 and v["kill_markers"] > 0
    assert v["scripts"] == 1
    assert v["overlaps"] == []
    assert v["scroll"]["page"] <= 0 and v["scroll"]["table"] <= 0 and v["scroll"]["right"] <= 0


def test_every_failed_check_is_two_clicks_from_the_leaderboard(bundled_run: Path,
                                                                doc: dict[str, Any]) -> None:
    clicks = render(bundled_run / "index.html", probes={"clicks": CLICKS},
                    screenshot=False).values["clicks"]
    for name, c in doc["candidates"].items():
        failed = sorted(f"{x['check']} @ {x['scenario']}" for x in c["checks"]
                        if x["outcome"] == "fail")
        row = clicks[name]
        assert row["section"] and sorted(row["failed"]) == failed
        assert row["with_evidence"] == len(failed)
        assert [text for text, target in row["links"]] == [text for text, target in row["links"]
                                                           if target == text]
        assert {text for text, _ in row["links"]} == {f.split(" @ ")[0] for f in failed}
    assert clicks["reference"]["failed"] == []
    for name in ("model-a", "model-b"):  # every finding of the review is on the page
        for finding in doc["candidates"][name]["findings"]:
            assert set(finding["checks"]) & {f.split(" @ ")[0] for f in clicks[name]["failed"]}
        distinct = {x["check"] for x in doc["candidates"][name]["checks"] if x["outcome"] == "fail"}
        assert clicks[name]["excerpts"] >= len(distinct)  # each failed check shows its excerpt
        assert clicks[name]["hot_lines"] > 0


def test_leaderboard_sorts_by_a_clicked_column(bundled_run: Path) -> None:
    first, second = render(bundled_run / "index.html", probes={"sort": SORT},
                           screenshot=False).values["sort"]
    assert first == sorted(first) and second == sorted(second, reverse=True)


def test_candidate_page_screenshot(bundled_run: Path, doc: dict[str, Any]) -> None:
    page = render(bundled_run / "index.html", probes={"y": scroll_to("c0-model-a")})
    assert page.values["y"] > 800 and page.console_errors == ()
    (SHOTS / "candidate-model-a.png").write_bytes(page.screenshot)
    run = render(bundled_run / "index.html", probes={"y": scroll_to("c0-model-a-run-crash-loop")})
    (SHOTS / "timeline-model-a-crash-loop.png").write_bytes(run.screenshot)


def test_markup_from_a_candidate_is_shown_as_text(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "score",
                        str(ROOT / "tests" / "fixtures" / "markup"), "--runner", "local",
                        "--scenario", "clean-run", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    text = "document.body.innerText"
    page = render(tmp_path / "index.html", screenshot=False, probes={
        "scripts": "document.scripts.length", "images": "document.images.length",
        "tables": "document.querySelectorAll('table').length",
        "rows": "document.querySelectorAll('#leaderboard tbody tr').length",
        "log": f"{text}.includes('</table><script>alert(\"log\")</script>')",
        "stderr": f"{text}.includes('</table><script>alert(\"stderr\")</script>')",
        "description": f"{text}.includes('<script>alert(\"description\")</script>')",
    })
    assert page.dialogs == () and page.console_errors == ()
    assert page.values["scripts"] == 1 and page.values["images"] == 0
    assert page.values["rows"] == 1
    assert page.values["log"] and page.values["stderr"] and page.values["description"]
    html = (tmp_path / "index.html").read_text()
    assert page.values["tables"] == html.count("<table")
