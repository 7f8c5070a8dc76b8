"""Benchmark: the bundled set's wall time, as `harness score` and `harness mutants` run it.

The bundled candidates (every folder under candidates/ with a manifest: the reference,
model-a, model-b, rustflow) through every scenario, then every mutant through its
scenario, each phase with `--jobs N` parallel cells on the local runner, as the two
commands plan and run them. Per cell it splits the time: the engines running (which holds
the waits the scenarios need by design: step sleeps, backoffs, timeouts), the harness's
deliberate grace sleeps, and the rest, which is the harness's overhead (starting cells,
copying and restoring snapshots, polling, checks). The per-scenario table sums cells,
biggest first, so it shows where the time goes. It also says whether every mutant was
caught, so a run that got faster by judging less shows it, and the CPU seconds all of it
took: on a machine that other work saturates, wall time follows CPU time, not waits.
"Overhead" includes the strace recording run of the crash scenarios (the plan's source,
not judged, so not counted as engine time).

    python bench/bench_bundled.py [--jobs 2 4] [--seed N] [--only SCENARIO ...] [--json out.json]

`--tree DIR` imports harness from another checkout (a worktree of an older commit), so
before and after run back to back from one script, on one machine state.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def _import_tree(argv: list[str]) -> Path:
    """The tree to import harness from: --tree DIR, else this file's checkout."""
    tree = Path(__file__).resolve().parent.parent
    if "--tree" in argv:
        tree = Path(argv[argv.index("--tree") + 1]).resolve()
    sys.path.insert(0, str(tree))
    return tree


TREE = _import_tree(sys.argv)

from harness import api, cells, mutants  # noqa: E402
from harness.executors.base import RunnerSpec  # noqa: E402
from harness.executors.choose import make_executor  # noqa: E402
from harness.manifest import resolve_candidates  # noqa: E402
from harness.model import CellResult  # noqa: E402


def _cpu_s() -> float:
    """CPU seconds of this process and of every descendant waited for (the pool's
    workers, their reapers, the engines and their steps)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _phase(specs: list[Any], jobs: int) -> tuple[float, float, list[CellResult]]:
    """The phase's wall time, its CPU time, and its cells."""
    t0, c0 = time.monotonic(), _cpu_s()
    done = []
    if specs:
        with make_executor("local", jobs, RunnerSpec("local"), api.CELL_TIMEOUT_S,
                           cells=len(specs)) as ex:
            done.extend(ex.run(specs))
    return time.monotonic() - t0, _cpu_s() - c0, done


def _row(cell: CellResult, phase: str) -> dict[str, Any]:
    engine = float(cell.extra.get("engine_s", 0.0))
    sleep = float(cell.extra.get("harness_sleep_s", 0.0))
    return {"phase": phase, "candidate": cell.candidate, "scenario": cell.scenario,
            "wall_s": round(cell.duration_s, 3), "engine_s": round(engine, 3),
            "harness_sleep_s": round(sleep, 3),
            "overhead_s": round(cell.duration_s - engine - sleep, 3)}


def by_scenario(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cell time summed per scenario (both phases), biggest first."""
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        a = acc[r["scenario"]]
        a["cells"] += 1
        for k in ("wall_s", "engine_s", "harness_sleep_s", "overhead_s"):
            a[k] += r[k]
    out = [{"scenario": s, **{k: round(v, 2) for k, v in a.items()}} for s, a in acc.items()]
    return sorted(out, key=lambda r: -r["wall_s"])


def print_table(table: list[dict[str, Any]]) -> None:
    total = sum(r["wall_s"] for r in table) or 1.0
    print(f"{'scenario':24} {'cells':>5} {'cell s':>8} {'share':>6} {'engine s':>9}"
          f" {'grace s':>8} {'overhead s':>11}")
    for r in table:
        print(f"{r['scenario']:24} {int(r['cells']):5d} {r['wall_s']:8.1f}"
              f" {r['wall_s'] / total:6.0%} {r['engine_s']:9.1f} {r['harness_sleep_s']:8.1f}"
              f" {r['overhead_s']:11.1f}")


def run_once(jobs: int, seed: int, only: list[str] | None = None) -> dict[str, Any]:
    scenarios = [s for s in api.all_scenarios() if not only or s.name in only]
    bundled = [c for c in resolve_candidates([], api.ROOT) if c.mutant is None]
    found = [c for c in mutants.discover(api.ROOT)
             if c.mutant and (not only or c.mutant.scenario in only)]
    by_name = {s.name: s for s in scenarios}
    score_specs = cells.plan(bundled, scenarios, seed, "local", api.reproduce_command)
    mutant_specs = [cells.plan([c], [by_name[c.mutant.scenario]], seed, "local",
                               api.reproduce_command)[0] for c in found if c.mutant]
    score_wall, score_cpu, score_cells = _phase(score_specs, jobs)
    mutants_wall, mutants_cpu, mutant_cells = _phase(mutant_specs, jobs)
    ran = {c.candidate: c for c in mutant_cells}
    results = [mutants.judge(c, ran[c.name]) for c in found]
    rows = [_row(c, "score") for c in score_cells] + [_row(c, "mutants") for c in mutant_cells]
    summary = mutants.mutation_score(results)
    return {"tree": str(TREE), "jobs": jobs, "seed": seed,
            "score_wall_s": round(score_wall, 2), "mutants_wall_s": round(mutants_wall, 2),
            "total_wall_s": round(score_wall + mutants_wall, 2),
            "cpu_s": round(score_cpu + mutants_cpu, 1),
            "cells": len(rows), "cell_time_s": round(sum(r["wall_s"] for r in rows), 2),
            "mutants_caught": f"{summary['caught']}/{summary['judged']}",
            "survivors": summary["survivors"], "unjudged": summary["unjudged"],
            "failed_checks_reference": sorted(
                {r.check for c in score_cells if c.candidate == "reference"
                 for r in c.results if r.outcome.value == "fail"}),
            "by_scenario": by_scenario(rows), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tree", type=Path, default=None, help="import harness from this checkout")
    ap.add_argument("--only", nargs="+", default=None, help="these scenarios only")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    runs = []
    for jobs in args.jobs:
        run = run_once(jobs, args.seed, args.only)
        runs.append(run)
        print(f"\n== {run['tree']} --jobs {jobs}: score {run['score_wall_s']:.1f} s +"
              f" mutants {run['mutants_wall_s']:.1f} s = {run['total_wall_s']:.1f} s wall,"
              f" {run['cpu_s']:.0f} CPU s;"
              f" {run['cells']} cells, {run['cell_time_s']:.1f} s of cell time;"
              f" mutants caught {run['mutants_caught']}; reference failed"
              f" {run['failed_checks_reference'] or 'nothing'}")
        print_table(run["by_scenario"])
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
