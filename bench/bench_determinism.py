"""Does the same seed give the same verdict? Issue 13's "before" and "after" figure.

Scores the CANDIDATES (default: model-a and model-b) RUNS times in a row with the same
seed, each into a fresh output folder, optionally with another harness run going beside
it the whole time (--load: the reference on every scenario, again and again), and
compares every (candidate, scenario, check) outcome across the runs:

- `changes`: over runs 2..RUNS, how many outcomes differ from run 1's;
- `unstable`: the (candidate, scenario, check) whose outcome was not the same in every
  run, with the outcomes seen, so a reader sees which faults move with load.

Kills that land where a polled condition or a clock says move with machine load; exact
crash points (issue 13) must bring `changes` to 0.

    python bench/bench_determinism.py --runs 5 --jobs 4 --runner docker --load \
        [--only SCENARIO ...] [--json bench/determinism.json] [CANDIDATE ...]

--only scores on those scenarios alone (a folder of copies, with scenarios/scoring), so
that many candidates, every mutant say, can be measured on the crash scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(Path(sys.executable).parent / "harness")

Key = tuple[str, str, str]  # candidate, scenario, check


def outcomes(results: Path) -> dict[Key, str]:
    """Every (candidate, scenario, check) of a results.json and its outcome (a check
    judged in several cells of one scenario keeps its worst: fail over the rest)."""
    doc = json.loads(results.read_text())
    seen: dict[Key, str] = {}
    for name, cand in doc["candidates"].items():
        for x in cand["checks"]:
            key = (name, x["scenario"], x["check"])
            if seen.get(key) != "fail":
                seen[key] = x["outcome"]
    return seen


def score(candidates: list[str], out: Path, args: argparse.Namespace) -> float:
    t0 = time.monotonic()
    only = ["--scenarios", str(args.scenario_dir)] if args.scenario_dir else []
    done = subprocess.run([HARNESS, "score", *candidates, "--seed", str(args.seed),
                           "--runner", args.runner, "--jobs", str(args.jobs), "--out", str(out),
                           *only],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"harness score exited {done.returncode}")
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("candidates", nargs="*", default=["model-a", "model-b"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runner", default="docker", choices=["docker", "local"])
    ap.add_argument("--load", action="store_true",
                    help="score the reference again and again beside the measured runs")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", action="append", default=[], metavar="SCENARIO")
    args = ap.parse_args()
    # A SIGTERM ends the bench through its finally, so the load beside it ends too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with tempfile.TemporaryDirectory(prefix="bench-determinism-") as tmp:
        args.scenario_dir = None
        if args.only:
            args.scenario_dir = Path(tmp) / "scenarios"
            shutil.copytree(ROOT / "scenarios" / "scoring", args.scenario_dir / "scoring")
            for name in args.only:
                shutil.copy(ROOT / "scenarios" / f"{name}.toml", args.scenario_dir)
        load = None
        if args.load:
            loop = (f"while true; do {HARNESS} score reference --runner {args.runner}"
                    f" --jobs 2 --out {tmp}/load >/dev/null 2>&1; done")
            load = subprocess.Popen(["sh", "-c", loop], cwd=ROOT, start_new_session=True)
        try:
            runs, walls = [], []
            for i in range(args.runs):
                walls.append(round(score(args.candidates, Path(tmp) / f"run{i}", args), 1))
                runs.append(outcomes(Path(tmp) / f"run{i}" / "results.json"))
                print(f"run {i + 1}/{args.runs}: {walls[-1]} s", file=sys.stderr)
        finally:
            if load is not None:
                os.killpg(load.pid, signal.SIGTERM)  # sh ends; the harness closes its cells
                load.wait()
    seen: dict[Key, list[str]] = defaultdict(list)
    for r in runs:
        for key, outcome in r.items():
            seen[key].append(outcome)
    changes = sum(1 for r in runs[1:] for key, o in r.items() if runs[0].get(key) != o)
    unstable = {"/".join(k): v for k, v in sorted(seen.items()) if len(set(v)) > 1}
    record: dict[str, Any] = {
        "candidates": args.candidates, "runs": args.runs, "jobs": args.jobs, "seed": args.seed,
        "runner": args.runner, "load": args.load, "only": args.only, "wall_s": walls,
        "outcomes_per_run": len(runs[0]),
        "changes": changes, "unstable": unstable,
    }
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
