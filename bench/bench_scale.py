"""Benchmark: cells per minute of `harness score` at several --jobs, under Dask, and the
cost of --resume over a finished run; every figure from one run of this script.

Each configuration scores the same candidates (by default the bundled reference, model-a
and model-b on every scenario) into a fresh output folder, as a user would, through the
`harness` command. Reported per configuration: wall seconds, cells per minute, the ratio
to `--jobs 1` measured in this same run (the machine is noisy, so only ratios of one run
are compared), and each candidate's execution score, so a speed-up that changed a
verdict shows. Then `--resume` over the `--jobs 1` folder, where every cell is done:
its wall time is the cost of resuming a finished run.

    python bench/bench_scale.py [--runner auto|local|docker] [--jobs 1,2,4] [--dask 2]
        [--candidates reference,model-a,model-b] [--scenario PATTERN] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(Path(sys.executable).parent / "harness")


def score(out: Path, candidates: list[str], runner: str, extra: list[str]) -> dict[str, Any]:
    argv = [HARNESS, "score", *candidates, "--runner", runner, "--out", str(out), *extra]
    t0 = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}")
    doc = json.loads((out / "results.json").read_text())
    ncells = sum(len(c["cells"]) for c in doc["candidates"].values())
    return {"argv": argv[1:], "wall_s": round(wall, 2), "cells": ncells,
            "cells_per_min": round(60 * ncells / wall, 2),
            "runner": doc["runner"].get("runner"),
            "execution": {n: c["execution_score"] for n, c in doc["candidates"].items()},
            "not_exercised": {n: c["tally"].get("not_exercised", 0)
                              for n, c in doc["candidates"].items()}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", default="auto")
    ap.add_argument("--jobs", default="1,2,4", help="comma-separated --jobs values")
    ap.add_argument("--dask", type=int, default=2, help="Dask LocalCluster workers (0: skip)")
    ap.add_argument("--candidates", default="reference,model-a,model-b")
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    candidates = args.candidates.split(",")
    common = ["--scenario", args.scenario] if args.scenario else []
    configs = [(f"--jobs {j}", ["--jobs", j]) for j in args.jobs.split(",")]
    if args.dask:
        configs.append((f"--executor dask ({args.dask} workers)",
                        ["--executor", "dask", "--jobs", str(args.dask)]))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        first: Path | None = None
        for i, (name, extra) in enumerate(configs):
            out = Path(tmp) / f"run{i}"
            row = score(out, candidates, args.runner, [*common, *extra])
            row["config"] = name
            rows.append(row)
            first = first or out
            print(f"{name:32} {row['wall_s']:8.1f} s {row['cells_per_min']:7.2f} cells/min"
                  f"  exec {row['execution']}", flush=True)
        assert first is not None
        resume = score(first, candidates, args.runner, [*common, *configs[0][1], "--resume"])
    base = rows[0]["cells_per_min"]
    for row in rows:
        row["ratio_to_first"] = round(row["cells_per_min"] / base, 2)
    print(f"\n{'configuration':32} {'wall s':>8} {'cells':>6} {'cells/min':>10} {'ratio':>6}")
    for row in rows:
        print(f"{row['config']:32} {row['wall_s']:8.1f} {row['cells']:6d}"
              f" {row['cells_per_min']:10.2f} {row['ratio_to_first']:6.2f}")
    print(f"--resume over the finished {configs[0][0]} run ({resume['cells']} cells, all done):"
          f" {resume['wall_s']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"runner": rows[0]["runner"], "configs": rows,
                                         "resume_finished_s": resume["wall_s"]}, indent=2)
                             + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
