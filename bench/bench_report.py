"""Benchmark: the HTML report's size and render time at about 20 candidates.

From one real results.json (a `harness score` run's), it makes a run of N candidates
(default 20) by repeating the real ones under new names, writes the report, and renders
it in headless chromium at 1280x800, alternating with a small reference page (the same
report with one candidate) so that both meet the same machine. It reports:

- index.html's size, against the goal of under 3 MB;
- the median load time (navigate to load event) of the big report, against under 2 s;
- that median as a ratio of the one-candidate report's, measured in the same run.

    python bench/bench_report.py RESULTS_JSON [-n 20] [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.report import doc as results_doc  # noqa: E402
from harness.report.browser import render  # noqa: E402
from harness.report.write import write_report  # noqa: E402


def widen(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """doc with n candidates: the real ones repeated under new names."""
    real = list(doc["candidates"].values())
    out = copy.deepcopy(doc)
    out["candidates"] = {}
    for i in range(n):
        c = copy.deepcopy(real[i % len(real)])
        c["name"] = f"{c['name']}-{i:02d}"
        out["candidates"][c["name"]] = c
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    doc = results_doc.load(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        big = write_report(widen(doc, args.n), Path(tmp) / "big").html
        small = write_report(widen(doc, 1), Path(tmp) / "small").html
        times: dict[str, list[float]] = {"big": [], "small": []}
        for i in range(args.runs):
            for name, path in (("big", big), ("small", small))[:: 1 if i % 2 == 0 else -1]:
                page = render(path, screenshot=False)
                if page.console_errors:
                    print(f"console errors in {name}: {page.console_errors}", file=sys.stderr)
                    return 1
                times[name].append(page.load_ms)
        size = big.stat().st_size
    big_ms, small_ms = statistics.median(times["big"]), statistics.median(times["small"])
    result = {
        "candidates": args.n, "html_bytes": size, "html_mb": round(size / 2**20, 2),
        "size_goal_mb": 3, "load_ms_median": round(big_ms, 1),
        "load_ms_one_candidate": round(small_ms, 1), "load_goal_ms": 2000,
        "ratio_to_one_candidate": round(big_ms / small_ms, 2),
        "runs": args.runs, "load_ms_all": [round(t, 1) for t in times["big"]],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if size < 3 * 2**20 and big_ms < 2000 else 1


if __name__ == "__main__":
    sys.exit(main())
