"""Trials are planned as cells of their own: each has its own seed, its own key in the
results store, and a reproduce command that runs that trial's fault plan again."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from harness import api, cells
from harness.faults.procedures import new_ctx
from harness.manifest import resolve_candidates
from harness.runners.fake import FakeCell, FakeRunner

REFERENCE = resolve_candidates(["reference"], api.ROOT)


def idle(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
    return 0, b"", b""


def fault_draws(spec: cells.CellSpec) -> list[float]:
    """The first draws of the random source a cell's fault plan is made from."""
    cell = FakeRunner(idle).open_cell(spec.candidate, spec.label)
    try:
        ctx = new_ctx(cell, spec.scenario, spec.seed)
        ctx.watcher.close()
        return [ctx.rng.random() for _ in range(8)]
    finally:
        cell.close()


def test_every_trial_is_a_cell_with_its_own_seed_and_key() -> None:
    scenarios = api.all_scenarios(pattern="crash-loop")
    specs = cells.plan(REFERENCE, scenarios, 5, "local", api.reproduce_command, trials=3)
    assert [(s.trial, s.seed) for s in specs] == [
        (t, cells.trial_seed(5, t)) for t in range(3)]
    assert specs[0].seed == 5 and len({s.seed for s in specs}) == 3
    assert len({s.key for s in specs}) == 3 and [s.key.trial for s in specs] == [0, 1, 2]
    assert [s.label for s in specs] == ["reference / crash-loop",
                                        "reference / crash-loop trial 1",
                                        "reference / crash-loop trial 2"]


def test_a_trials_reproduce_command_runs_that_trials_fault_plan() -> None:
    scenarios = api.all_scenarios(pattern="crash-loop")
    specs = cells.plan(REFERENCE, scenarios, 5, "local", api.reproduce_command, trials=3)
    draws = [fault_draws(s) for s in specs]
    assert len({tuple(d) for d in draws}) == 3  # each trial has its own fault plan
    for spec, drawn in zip(specs, draws, strict=True):
        argv = shlex.split(spec.reproduce)
        seed = int(argv[argv.index("--seed") + 1])
        assert seed == spec.seed and "--trials" not in argv
        again = cells.plan(REFERENCE, scenarios, seed, "local", api.reproduce_command)
        assert [s.seed for s in again] == [spec.seed]  # a one-trial run of it: trial 0
        assert fault_draws(again[0]) == drawn
