"""The executor interface, and how a worker makes the runner it owns.

An executor runs `CellSpec`s and yields a `CellResult` for every one of them, in the
order they finish. A worker that breaks (it dies, it cannot be reached, its runner
cannot start) never raises out of `run`: its cell comes back as an `infra_error`
result, which is never counted against the candidate. Closing `run`'s generator early
(Ctrl-C, a harness failure) stops the cells in flight and closes them; leaving the
executor's `with` block releases every worker and every runner.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.cells import CellSpec
from harness.errors import InfraError
from harness.model import CellResult
from harness.runners.base import Runner
from harness.runners.limits import Limits

Started = Callable[[CellSpec, str], None]  # a cell went to a worker, named by the string
Say = Callable[[str], None]


def _quiet(text: str) -> None:
    """A worker's runner has no terminal of its own to talk to."""


@dataclass(frozen=True, slots=True)
class RunnerSpec:
    """How a worker makes its own runner: picklable, so it travels to worker processes.

    kind is `local` or `docker`; the Docker runner connects to the daemon of the machine
    the worker runs on, and finds or builds the base image there."""

    kind: str
    limits: Limits = field(default_factory=Limits)

    def open(self, say: Say = _quiet) -> Runner:
        """A new runner that the caller owns: use it as `with spec.open() as runner:`."""
        if self.kind == "local":
            from harness.runners.local import LocalRunner

            return LocalRunner()
        if self.kind == "docker":
            from harness.container.client import connect
            from harness.runners.docker import DockerRunner

            return DockerRunner(connect(), say, self.limits)
        raise InfraError(f"a worker cannot make a runner of kind {self.kind!r}")


def execute(runner: Runner, spec: CellSpec, wall_s: float) -> CellResult:
    """One cell on a worker's own runner (the harness's own failures become infra_error).

    A worker process that has only unpickled its spec has not imported the checks yet,
    so they are registered here first (once; it is a no-op after)."""
    from harness import api
    from harness.checks import load_all

    load_all()
    return api.run_spec(runner, spec, wall_s)


def broken(spec: CellSpec, why: str, duration_s: float = 0.0) -> CellResult:
    """The result of a cell that its worker could not run: every check infra_error."""
    from harness import api

    start = time.monotonic() - duration_s
    cell = api.infra_cell(spec.candidate, spec.scenario, spec.seed, spec.runner,
                          spec.reproduce, why, start)
    return replace(cell, trial=spec.trial, key=spec.key)


class Executor(abc.ABC):
    """Runs cells on workers; use it as a context manager, which releases them."""

    name: str
    workers: int  # how many cells run at once

    @abc.abstractmethod
    def run(self, specs: Sequence[CellSpec], started: Started | None = None) -> Iterator[CellResult]:
        """Yield a CellResult for each spec as it finishes, in any order."""

    def describe(self) -> dict[str, Any]:
        """Facts for results.json: the executor and how many workers it ran."""
        return {"executor": self.name, "workers": self.workers}

    def close(self) -> None:
        """Release every worker and runner; safe to call twice."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
