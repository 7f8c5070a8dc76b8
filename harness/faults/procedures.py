"""Scenario procedures: how each kind of scenario drives an engine through its faults.

A procedure takes a `Ctx` (the cell, the scenario, a seeded RNG) and records invocations;
`observe` then freezes everything into an `Observation` for the checks. Every random
choice comes from the cell's RNG, seeded from the run seed and the scenario name, so
the same seed gives the same fault schedule. Timing still varies from run to run, so
the checks are written to hold at any moment a fault could land.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import CellLimitReached
from harness.faults.inject import (
    CellLimit,
    Trigger,
    Watcher,
    drive,
    outputs_of,
    read_log,
)
from harness.layout import AUDIT, STATE, WORKFLOW
from harness.model import Scenario
from harness.observe import Invocation, Observation, Variant
from harness.runners.base import Cell
from harness.safefs import CellFiles, Unsafe
from harness.scenario import workflow_bytes


@dataclass
class Ctx:
    cell: Cell
    scenario: Scenario
    seed: int
    rng: random.Random
    watcher: Watcher
    invocations: list[Invocation] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    alive_after: dict[str, tuple[int, ...]] = field(default_factory=dict)
    workflow: bytes = b""
    limit: CellLimit | None = None  # the cell's wall-clock limit; every drive passes it on

    @property
    def params(self) -> Mapping[str, Any]:
        return self.scenario.params

    @property
    def files(self) -> CellFiles:
        return self.watcher.files

    @property
    def bound(self) -> float:
        return float(self.params.get("bound_s", 60))

    def run_args(self, workflow: str = WORKFLOW, state: str = STATE) -> list[str]:
        return ["run", self.cell.engine_path(workflow), self.cell.engine_path(state)]

    def status_args(self, state: str = STATE) -> list[str]:
        return ["status", self.cell.engine_path(state)]

    def call(self, args: list[str], label: str, **kw: Any) -> Invocation:
        inv = drive(self.cell, self.watcher, args, label=label,
                    bound_s=kw.pop("bound_s", self.bound), limit=self.limit, **kw)
        self.invocations.append(inv)
        return inv

    def settle_alive(self, key: str, grace: float = 0.5) -> None:
        """Which recorded processes still live `grace` s from now (zombies are dead)."""
        time.sleep(grace)
        self.facts["harness_sleep_s"] = self.facts.get("harness_sleep_s", 0.0) + grace
        self.alive_after[key] = self.watcher.alive_now()

    def run_to_completion(self, first: int, max_runs: int) -> None:
        for i in range(first, first + max_runs):
            inv = self.call(self.run_args(), f"run {i}")
            if inv.returncode in (0, 1) or inv.returncode is None:
                return


def new_ctx(cell: Cell, scenario: Scenario, seed: int, limit: CellLimit | None = None) -> Ctx:
    rng = random.Random(f"{seed}:{scenario.name}")
    ctx = Ctx(cell, scenario, seed, rng, Watcher(cell), limit=limit)
    audit = cell.engine_path(AUDIT)
    ctx.workflow = workflow_bytes(scenario.workflow, cell.probe_argv(), audit)
    ctx.files.write(WORKFLOW, ctx.workflow)
    return ctx


def run_procedure(ctx: Ctx) -> str:
    """The scenario's procedure; why the cell's wall-clock limit cut it short, or "".

    A file of the candidate's that the harness will not follow, open or change ends it
    early, cleanly: nothing is damaged or restored through it, and the checks judge what
    was seen, the refusal among it. The limit ends it too, and the invocations the limit
    ended (which never reached the procedure) join the record."""
    try:
        PROCEDURES[ctx.scenario.procedure](ctx)
    except Unsafe as exc:
        ctx.files.note(str(exc))
        ctx.facts["stopped"] = f"the harness stopped the scenario early: {exc}"
    except CellLimitReached as exc:
        if ctx.limit is not None:
            ctx.invocations.extend(ctx.limit.cut)
            ctx.invocations.sort(key=lambda i: i.started)
        return str(exc)
    return ""


def observe(ctx: Ctx) -> Observation:
    ctx.watcher.tick()  # the last writes, before the watch closes
    ctx.watcher.close()
    ids = {str(s.get("id")) for s in ctx.scenario.workflow.get("steps", [])}
    return Observation(
        scenario=ctx.scenario, seed=ctx.seed, workflow_bytes=ctx.workflow,
        invocations=tuple(ctx.invocations), audit=ctx.watcher.audit(),
        final_log=read_log(ctx.files, keep=True) or b"", outputs=outputs_of(ctx.files, ids),
        publications=tuple(ctx.watcher.publications), deaths=dict(ctx.watcher.deaths),
        written_in_place=dict(ctx.watcher.written_in_place),
        appearances=dict(ctx.watcher.appearances), write_sessions=ctx.watcher.sessions(),
        alive_after=dict(ctx.alive_after), variants=tuple(ctx.variants), facts=dict(ctx.facts),
        hazards=ctx.files.hazards,
    )


def sigterm(ctx: Ctx) -> None:
    """SIGTERM (or SIGINT) the engine while steps run; then resume."""
    sig = signal.Signals[str(ctx.params.get("signal", "SIGTERM"))]
    starts = int(ctx.params.get("after_starts", 2))
    inv = ctx.call(ctx.run_args(), "run 1", trigger=Trigger("starts", starts, delay=0.3),
                   action=lambda p: p.send_signal(sig), action_name=sig.name)
    ctx.facts["signal"] = sig.name
    ctx.facts["signalled"] = inv.fault_at is not None
    ctx.settle_alive("after_signal")
    ctx.run_to_completion(2, int(ctx.params.get("max_runs", 3)))
    ctx.settle_alive("end")


def orphans(ctx: Ctx) -> None:
    """SIGKILL the engine while steps and grandchildren run; resume; nothing may survive."""
    delay = float(ctx.params.get("delay", 0.5))
    trigger = (Trigger("children", int(ctx.params["kill_after_children"]), delay=delay)
               if "kill_after_children" in ctx.params
               else Trigger("events", int(ctx.params.get("kill_after_events", 3)), delay=delay))
    inv = ctx.call(ctx.run_args(), "run 1", trigger=trigger)
    ctx.facts["killed"] = inv.fault_at is not None
    ctx.settle_alive("after_kill")
    ctx.run_to_completion(2, int(ctx.params.get("max_runs", 3)))
    ctx.settle_alive("end")


def single_run(ctx: Ctx) -> None:
    """One run (its exit code is what the checks judge), then status."""
    ctx.call(ctx.run_args(), "run 1")
    ctx.settle_alive("end", grace=0.2)
    ctx.call(ctx.status_args(), "status")


PROCEDURES: dict[str, Callable[[Ctx], None]] = {
    "sigterm": sigterm,
    "orphans": orphans,
    "single_run": single_run,
}
