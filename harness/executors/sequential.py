"""The sequential executor: every cell in this process, one after another, on one runner.

It either owns its runner (made from a `RunnerSpec` on entry, closed on exit) or
borrows one that the caller opened and will close, such as a `FakeRunner` in tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from harness.cells import CellSpec
from harness.executors.base import Executor, RunnerSpec, Say, Started, _quiet, execute
from harness.model import CellResult
from harness.runners.base import Runner


class Sequential(Executor):
    name = "sequential"
    workers = 1

    def __init__(self, runner: RunnerSpec | Runner, wall_s: float, say: Say = _quiet) -> None:
        self._spec = runner if isinstance(runner, RunnerSpec) else None
        self._runner: Runner | None = None if isinstance(runner, RunnerSpec) else runner
        self._owned = self._runner is None
        self.wall_s = wall_s
        self._say = say

    def runner(self) -> Runner:
        if self._runner is None:
            assert self._spec is not None
            self._runner = self._spec.open(self._say)
        return self._runner

    def run(self, specs: Sequence[CellSpec], started: Started | None = None) -> Iterator[CellResult]:
        runner = self.runner()
        for spec in specs:
            if started:
                started(spec, "main")
            yield execute(runner, spec, self.wall_s)

    def close(self) -> None:
        if self._owned and self._runner is not None:
            runner, self._runner = self._runner, None
            runner.close()
