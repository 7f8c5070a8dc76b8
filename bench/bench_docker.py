"""Benchmark: what the Docker runner costs over the local runner, on the same scenario set.

In one run it scores the reference on every scenario under both runners, pairing each
scenario's two cells (local and Docker run back to back, their order alternating, so
slow drifts of a noisy machine fall on both). It reports:

- each cell's wall time under both runners, and the Docker cell's overhead (its wall
  time minus the local cell's);
- the median per-cell overhead, against the goal of at most 0.1 s (a `docker exec` costs 0.065 s);
- both suites' total wall time and their ratio, against the goal of at most 2x;
- the bare cost of a Docker cell with no engine run (median of --bare runs): cold
  (start the container, hear the init's hello, end and remove it) and as the runner
  really works (`warm`): in the container the previous cell's close reset (before
  issue 16 item 5's reuse: the next cell's container started ahead while a cell ran).

With --repeat N every scenario's pair runs N times (the order alternating each time),
and a scenario's figures are the medians of its N runs: one pair's difference is mostly
the machine's noise, seconds either way on a shared machine. --only limits the run to
the named scenarios.

    python bench/bench_docker.py [--seed N] [--bare 10] [--repeat 1] [--only NAME ...]
                                 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import api  # noqa: E402
from harness.container.client import connect  # noqa: E402
from harness.manifest import resolve_candidates  # noqa: E402
from harness.runners.base import Runner  # noqa: E402
from harness.runners.docker import DockerRunner  # noqa: E402
from harness.runners.local import LocalRunner  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bare", type=int, default=10, help="bare container cells to time")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each scenario's pair")
    ap.add_argument("--only", nargs="*", default=None, help="these scenarios only")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cand = resolve_candidates(["reference"], api.ROOT)[0]
    docker_runner = DockerRunner(connect(), print)
    local_runner = LocalRunner()
    docker_runner.image_for(cand)  # an image build is a one-off, not a per-cell cost

    bare: dict[str, list[float]] = {"cold": [], "warm": []}
    with DockerRunner(connect(), print, ahead=False, reuse=False) as cold:
        for i in range(args.bare):
            t0 = time.monotonic()
            cold.open_cell(cand, f"bare-{i}").close()
            bare["cold"].append(time.monotonic() - t0)
    for i in range(args.bare):
        time.sleep(0.5)  # a cell's run
        t0 = time.monotonic()
        docker_runner.open_cell(cand, f"bare-{i}").close()
        bare["warm"].append(time.monotonic() - t0)

    scenarios = [s for s in api.all_scenarios() if args.only is None or s.name in args.only]
    runs: dict[str, dict[str, list[float]]] = {
        s.name: {"local": [], "docker": [], "overhead_s": []} for s in scenarios}
    totals = {"local": 0.0, "docker": 0.0}
    for n in range(args.repeat):
        for i, scenario in enumerate(scenarios):
            order: list[tuple[str, Runner]] = [("local", local_runner), ("docker", docker_runner)]
            if (i + n) % 2:
                order.reverse()
            took = {}
            for name, runner in order:
                cell = api.run_cell(runner, cand, scenario, args.seed)
                if cell.infra_error or any(r.outcome.value != "pass" for r in cell.results):
                    print(f"warning: {name} {scenario.name}: not all checks passed", file=sys.stderr)
                took[name] = cell.duration_s
                runs[scenario.name][name].append(cell.duration_s)
                totals[name] += cell.duration_s
            runs[scenario.name]["overhead_s"].append(took["docker"] - took["local"])
    docker_runner.close()
    rows: list[dict[str, object]] = [
        {"scenario": name, **{k: round(statistics.median(v), 3) for k, v in r.items()}}
        for name, r in runs.items()]

    print(f"{'scenario':24} {'local s':>8} {'docker s':>9} {'overhead s':>11}")
    for r in rows:
        print(f"{r['scenario']:24} {r['local']:8.2f} {r['docker']:9.2f} {r['overhead_s']:11.2f}")
    median = statistics.median(float(r["overhead_s"]) for r in rows)  # type: ignore[arg-type]
    ratio = totals["docker"] / totals["local"]
    cold_median = statistics.median(bare["cold"]) if bare["cold"] else float("nan")
    warm_median = statistics.median(bare["warm"]) if bare["warm"] else float("nan")
    print(f"\nmedian per-cell overhead of docker over local: {median:.3f} s (goal <= 0.1 s)")
    print(f"suite wall: local {totals['local']:.1f} s, docker {totals['docker']:.1f} s,"
          f" ratio {ratio:.2f}x (goal <= 2x)")
    print(f"bare docker cell, no engine: cold {cold_median:.3f} s, as the runner works (the"
          f" container reused) {warm_median:.3f} s (medians over {args.bare})")
    if args.json:
        args.json.write_text(json.dumps({"cells": rows, "median_overhead_s": median,
                                         "local_s": totals["local"], "docker_s": totals["docker"],
                                         "ratio": ratio, "repeat": args.repeat,
                                         "bare_cell_s": bare}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
