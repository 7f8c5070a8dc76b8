"""Benchmark: where a Docker cell's time goes, part by part, against the local runner's.

bench/bench_docker.py measures a whole cell's overhead; this splits it (issue 16 item 5).
For each of N rounds, local and Docker alternating, it times on the reference:

- the container's start: create and start it, hear the init's hello (`new_cell`, which
  the runner does ahead, in a background thread, while the previous cell runs), and `arm`;
- one `alive` question (the watcher asks it every tick, 5 ms, while an engine runs);
- one invocation start to exit: `true` (the spawn alone) and the engine's `status` of a
  missing STATE_DIR (the spawn plus the engine's own start-up, in the image's Python);
- `end` (every process ended); the cell's close with reuse (the init's reset and the
  folders' renewal) and the next cell's open in the same container (arm included);
  and the container's removal (without reuse the runner does it in a background
  thread after each cell's result).

Medians in milliseconds. On a machine other work loads, the background parts still cost
CPU that the running cells compete for.

    python bench/bench_docker_parts.py [--rounds 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import api, cellfs  # noqa: E402
from harness.container.client import connect  # noqa: E402
from harness.manifest import resolve_candidates  # noqa: E402
from harness.runners.base import Cell  # noqa: E402
from harness.runners.docker import DockerCell, DockerRunner  # noqa: E402
from harness.runners.local import LocalRunner  # noqa: E402

ALIVE_ASKS = 50


def _timed(parts: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    t0 = time.monotonic()
    out = fn()
    parts.setdefault(name, []).append(time.monotonic() - t0)
    return out


def _invocations(cell: Cell, parts: dict[str, list[float]], prefix: str) -> None:
    t0 = time.monotonic()
    for _ in range(ALIVE_ASKS):
        cell.alive([(1, None), (999999, None)])
    parts.setdefault(f"{prefix} alive", []).append((time.monotonic() - t0) / ALIVE_ASKS)
    _timed(parts, f"{prefix} spawn true", lambda: cell.start(["--version"], wrap=["true", "--"])
           .wait(30))
    _timed(parts, f"{prefix} engine status",
           lambda: cell.start(["status", cell.engine_path("work/none")]).wait(30))
    _timed(parts, f"{prefix} end", cell.end_all)


def _docker_round(runner: DockerRunner, parts: dict[str, list[float]]) -> None:
    cand = resolve_candidates(["reference"], api.ROOT)[0]
    tag, image_id = runner.image_for(cand)
    cell: DockerCell = _timed(parts, "docker new_cell (ahead)",
                              lambda: runner._new_cell(cand, tag, image_id, "parts"))
    _timed(parts, "docker arm", lambda: cell.arm(cand, runner.client))
    _invocations(cell, parts, "docker")
    _timed(parts, "docker close (reset, kept)", cell.close)
    cell = _timed(parts, "docker open_cell (reused)", lambda: runner.open_cell(cand, "parts"))
    assert isinstance(cell, DockerCell)
    container = cell.container
    if cell._timer is not None:
        cell._timer.cancel()
    cell.request({"op": "end"})
    cell._close_sock("measured")
    _timed(parts, "docker remove (background)",
           lambda: runner.client.api.remove_container(container.id, force=True))
    cellfs.remove(cell.base)


def _local_round(runner: LocalRunner, parts: dict[str, list[float]]) -> None:
    cand = resolve_candidates(["reference"], api.ROOT)[0]
    cell = _timed(parts, "local open_cell", lambda: runner.open_cell(cand, "parts"))
    _invocations(cell, parts, "local")
    _timed(parts, "local close", cell.close)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    parts: dict[str, list[float]] = {}
    with DockerRunner(connect(), print, ahead=False) as docker_runner:
        local_runner = LocalRunner()
        docker_runner.image_for(resolve_candidates(["reference"], api.ROOT)[0])
        for n in range(args.rounds):
            rounds: list[Callable[[], None]] = [lambda: _local_round(local_runner, parts),
                                                lambda: _docker_round(docker_runner, parts)]
            for run in rounds[:: -1 if n % 2 else 1]:
                run()
    medians = {k: round(statistics.median(v) * 1000, 2) for k, v in sorted(parts.items())}
    for k, v in medians.items():
        print(f"{k:32} {v:9.2f} ms")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "median_ms": medians},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
