"""Which executor a run gets, from `--executor`, `--jobs` and `--scheduler`.

local with one job runs cells in this process (`Sequential`, owning a runner made from
the spec); local with more runs a `Pool` of worker processes; dask runs them on a Dask
cluster, the one at `--scheduler` or a LocalCluster of `--jobs` workers. A scheduler
given without `--executor dask` implies dask. Bad values are a `UsageError` (exit 2).
"""

from __future__ import annotations

import os

from harness.errors import UsageError
from harness.executors.base import Executor, RunnerSpec, Say, _quiet
from harness.executors.pool import Pool
from harness.executors.sequential import Sequential

EXECUTORS = ("local", "dask")


def default_jobs() -> int:
    """How many cells run at once when --jobs is not given: two per core this process may
    use. A cell mostly waits (on its engine's steps, backoffs, timeouts), so two per core
    keeps the cores busy. Measured on this 2-core machine (bench/bench_reliability.py,
    README "Studies"): at 4 the reference scored 10.0 in 20 of 20 runs under each runner,
    and every mutant was caught, also after a kill -9 and --resume."""
    return 2 * max(1, len(os.sched_getaffinity(0)))


def make_executor(name: str, jobs: int, runner: RunnerSpec, wall_s: float,
                  scheduler: str | None = None, say: Say = _quiet,
                  cells: int | None = None) -> Executor:
    """The executor for these options; the caller uses it with `with`.

    Given the number of cells to run, no more workers start than there are cells, and
    a single cell runs in this process (Sequential), as it did before --jobs."""
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name}: choose {' or '.join(EXECUTORS)}")
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give 1 or more")
    if scheduler is not None and not scheduler.strip():
        raise UsageError("--scheduler: give an address such as tcp://HOST:8786")
    if cells is not None:
        jobs = max(1, min(jobs, cells))
    if scheduler is not None or name == "dask":
        from harness.executors.dask import DaskExecutor  # distributed is slow to import

        return DaskExecutor(runner, wall_s, scheduler, jobs, say)
    if jobs == 1:
        return Sequential(runner, wall_s, say)
    return Pool(runner, jobs, wall_s, say)
