"""Benchmark: the full scenario set on the reference engine with the local runner.

Reports, from one run: the suite's wall time; the time engines were running (which holds
every wait the scenarios need by design: sleeps in steps, backoffs, timeouts); the
harness's own deliberate grace sleeps; and the rest, which is the harness's overhead
(starting cells, copying snapshots, polling, running checks). Figures are ratios of
one run, because the machine is noisy.

    python bench/bench_suite.py [--seed N] [--candidate reference] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import api  # noqa: E402
from harness.manifest import resolve_candidates  # noqa: E402
from harness.runners.local import LocalRunner  # noqa: E402
from harness.scoring import execution_score  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--candidate", default="reference")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cand = resolve_candidates([args.candidate], api.ROOT)
    scenarios = api.all_scenarios()
    t0 = time.monotonic()
    run = api.score(cand, scenarios, LocalRunner(), args.seed)
    wall = time.monotonic() - t0
    rows = []
    for cell in run.cells:
        engine = float(cell.extra.get("engine_s", 0.0))
        sleep = float(cell.extra.get("harness_sleep_s", 0.0))
        rows.append({"scenario": cell.scenario, "wall_s": round(cell.duration_s, 3),
                     "engine_s": engine, "harness_sleep_s": sleep,
                     "overhead_s": round(cell.duration_s - engine - sleep, 3)})
    engine = sum(r["engine_s"] for r in rows)
    sleep = sum(r["harness_sleep_s"] for r in rows)
    overhead = wall - engine - sleep
    print(f"{'scenario':24} {'wall s':>8} {'engine s':>9} {'grace s':>8} {'overhead s':>11}")
    for r in rows:
        print(f"{r['scenario']:24} {r['wall_s']:8.2f} {r['engine_s']:9.2f}"
              f" {r['harness_sleep_s']:8.2f} {r['overhead_s']:11.2f}")
    score = execution_score([x for c in run.cells for x in c.results])
    print(f"\nsuite wall {wall:.1f} s; engines running {engine:.1f} s ({engine / wall:.0%});"
          f" harness grace sleeps {sleep:.1f} s ({sleep / wall:.0%});"
          f" harness overhead {overhead:.1f} s ({overhead / wall:.0%}); score {score}")
    if args.json:
        args.json.write_text(json.dumps({"wall_s": wall, "engine_s": engine,
                                         "grace_s": sleep, "overhead_s": overhead,
                                         "score": score, "cells": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
