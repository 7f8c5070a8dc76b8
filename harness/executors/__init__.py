"""Executors: how a run's cells are spread over workers.

Every executor takes the same picklable `CellSpec`s and yields `CellResult`s as cells
finish: `sequential` runs them one after another in this process, `pool` in N local
worker processes (`--jobs N`), `dask` as tasks on a Dask cluster (`--executor dask`).
Each worker owns its own runner (`RunnerSpec.open`, used with `with`), so no runner
state is shared between cells that run at once.
"""

from harness.executors.base import Executor, RunnerSpec, Started

__all__ = ["Executor", "RunnerSpec", "Started"]
