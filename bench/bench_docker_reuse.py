"""Benchmark: Docker's per-cell overhead with host copies, with reuse alone, and with neither.

bench/bench_docker.py pairs one local and one Docker cell at a time; on a machine that
others load (load 3-6 on 2 cores), a pair's difference is mostly noise, and a Docker
runner without reuse leaves its background work (the previous container's removal) to
whatever cell comes next, a local one included. Here each round runs the same scenarios
as one block per runner, their order rotating each round: local; `copies`, Docker as it
runs by default (containers reused, and /usr and the working folder bind-mounted from
the image's host copy, `harness.container.hostcopy`, where the storage driver is
fuse-overlayfs); `reuse`, containers reused but no host copy; and `no_reuse`, neither
(main before issue 16 item 5: a container started ahead while each cell runs and each
removed in the background after it). So a runner's cells follow each other as in a
real run, and a drift of the machine's load falls on every runner. Between
blocks the runner without reuse is left to finish its background work, so none of it
lands on another runner's cells. A scenario's overhead is the median over rounds of
(Docker cell - local cell of the same round).

    python bench/bench_docker_reuse.py [--rounds 6] [--only NAME ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
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

SHORT = ["retry-exhausted", "timeout-kills-group", "clean-run", "sigterm", "retry-backoff"]


def settle(runner: Runner) -> None:
    """Let a runner without reuse finish what it does in the background."""
    if isinstance(runner, DockerRunner) and not runner.reuse:
        if runner._next is not None:
            runner._next[1].result()
        if runner._remover is not None:
            runner._remover.submit(lambda: None).result()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=SHORT)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cand = resolve_candidates(["reference"], api.ROOT)[0]
    scenarios = [s for s in api.all_scenarios() if s.name in args.only]
    runners: list[tuple[str, Runner]] = [
        ("local", LocalRunner()), ("copies", DockerRunner(connect(), print, copies=True)),
        ("reuse", DockerRunner(connect(), print, copies=False)),
        ("no_reuse", DockerRunner(connect(), print, reuse=False, copies=False))]
    arms = [name for name, _ in runners[1:]]
    for _, r in runners[1:]:
        assert isinstance(r, DockerRunner)
        r.image_for(cand)
    took: dict[str, dict[str, list[float]]] = {
        s.name: {name: [] for name, _ in runners} for s in scenarios}
    loads = [os.getloadavg()[0]]
    for n in range(args.rounds):
        k = n % len(runners)
        for name, runner in runners[k:] + runners[:k]:
            for scenario in scenarios:
                cell = api.run_cell(runner, cand, scenario, args.seed)
                if cell.infra_error or any(r.outcome.value != "pass" for r in cell.results):
                    print(f"warning: {name} {scenario.name}: not all checks passed", file=sys.stderr)
                took[scenario.name][name].append(cell.duration_s)
            settle(runner)
            time.sleep(0.5)
        loads.append(os.getloadavg()[0])
    for _, r in runners:
        r.close()
    rows = []
    for s in scenarios:
        t = took[s.name]
        rows.append({"scenario": s.name, **{k: round(statistics.median(v), 3) for k, v in t.items()},
                     **{f"overhead_{k}_s": round(statistics.median(
                         d - lo for d, lo in zip(t[k], t["local"], strict=True)), 3)
                        for k in arms}})
    print(f"{'scenario':22} {'local':>7}" + "".join(f" {k:>8}" for k in arms)
          + "".join(f" {'ovh ' + k:>13}" for k in arms))
    for r in rows:
        print(f"{r['scenario']:22} {r['local']:7.2f}" + "".join(f" {r[k]:8.2f}" for k in arms)
              + "".join(f" {r[f'overhead_{k}_s']:+13.3f}" for k in arms))
    med = {k: round(statistics.median(float(r[f"overhead_{k}_s"]) for r in rows), 3)  # type: ignore[arg-type]
           for k in arms}
    print("\nmedian per-cell overhead over local: "
          + ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
          + f" (goal <= 0.1 s); 1-min load {min(loads):.1f}-{max(loads):.1f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "cells": rows,
                                         "median_overhead_s": med, "load_1min": loads,
                                         "durations_s": took}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
