"""Measures: checks of the kind that never fail, pure functions from an Observation to a
`Figure` (harness.throughput).

A scenario names a measure in its `[[checks]]` like any check; `load_scenario` keeps it
apart (`Scenario.measures`), so a measure has no outcome, no severity and no capability:
it is in no tally, verdict, execution score, cap or junit testcase, and a correct but
slow engine is never failed by one. What a measure cannot measure (the engine did not
finish the work) is a figure of None with the reason; judging that is the other
scenarios' business. Only a profile that asks for speed (`speed_weight`) reads figures.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checks.status import status_differences
from harness.eventlog import loose, parse_log
from harness.model import CheckSpec
from harness.observe import Invocation, Observation
from harness.throughput import STATUS, STEPS, Figure, median_rate, status_case

MeasureFn = Callable[[Observation, Mapping[str, Any]], Figure]


@dataclass(frozen=True, slots=True)
class MeasureDef:
    name: str  # as a scenario's [[checks]] names it
    key: str  # the figure's name in a cell's extra["measures"] and in results.json
    unit: str
    fn: MeasureFn
    doc: str


MEASURES: dict[str, MeasureDef] = {}


def measure(name: str, key: str, unit: str) -> Callable[[MeasureFn], MeasureFn]:
    def register(fn: MeasureFn) -> MeasureFn:
        if name in MEASURES:
            raise RuntimeError(f"measure {name} registered twice")
        MEASURES[name] = MeasureDef(name, key, unit, fn, (fn.__doc__ or "").strip())
        return fn

    return register


def measured(specs: Sequence[CheckSpec], obs: Observation) -> dict[str, Any]:
    """Every measure of a cell, as its extra["measures"] holds them (key -> figure)."""
    return {MEASURES[s.check].key: run_measure(s, obs).to_json() for s in specs}


def run_measure(spec: CheckSpec, obs: Observation) -> Figure:
    """The figure; a measure that raises is the harness's bug, so no figure, saying so."""
    d = MEASURES[spec.check]
    try:
        return d.fn(obs, spec.params)
    except Exception as exc:  # a bug in the harness is never the candidate's failure
        tb = traceback.format_exc(limit=3)
        return Figure(None, d.unit, 0, why=f"the measure itself raised {exc!r} (a harness bug)\n{tb}")


def run_problem(inv: Invocation, steps: int) -> str:
    """Why a timed `run` does not count ("" when it does): it must exit 0 with a log that
    records each of the workflow's steps as succeeded (event types read loosely)."""
    if inv.returncode is None:
        return f"{inv.label} did not finish ({inv.fault or 'no exit'})"
    if inv.returncode != 0:
        return f"{inv.label} exited {inv.returncode}, not 0"
    done = {e.get("step") for e in parse_log(inv.log_after or b"").events
            if loose(str(e.get("type", ""))) == "STEPSUCCEEDED"}
    if len(done) < steps:
        return f"{inv.label} exited 0, but its log shows {len(done)} of {steps} steps succeeded"
    return ""


def figure(invs: Sequence[Invocation], work: int, unit: str,
           problem: Callable[[Invocation], str]) -> Figure:
    """The median rate over the invocations that count; none counts: no figure, and why."""
    walls, why = [], ""
    for inv in invs:
        p = problem(inv)
        if p:
            why = why or p
        else:
            walls.append(inv.duration)
    if not invs:
        why = "the scenario ran no such invocation"
    value = median_rate(work, walls)
    return Figure(value, unit, work, tuple(walls), "" if value is not None else why)


@measure(f"throughput.{STEPS}", STEPS, "steps/s")
def steps_per_s(obs: Observation, params: Mapping[str, Any]) -> Figure:
    """Steps per second of wall time of `run` on a workflow of no-op steps, each repeat in a
    fresh STATE_DIR, from the engine's start to its exit: the median over the repeats that
    ran every step to success."""
    steps = int(obs.facts.get("steps", 0))
    return figure(obs.runs("run"), steps, "steps/s", lambda inv: run_problem(inv, steps))


@measure(f"throughput.{STATUS}", STATUS, "events/s")
def status_events_per_s(obs: Observation, params: Mapping[str, Any]) -> Figure:
    """Events per second of wall time of `status` on a valid finished log the harness
    wrote (`throughput.status_case`), start-up included: the median over the repeats
    that exited 0 and printed the contract's status of that log."""
    log = status_case(int(obs.facts.get("status_target", 0)))[1]
    events = int(obs.facts.get("status_events", 0))

    def problem(inv: Invocation) -> str:
        diffs = status_differences(inv, log)
        return f"{inv.label}: {diffs[0]}" + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else "") \
            if diffs else ""

    return figure(obs.runs("status"), events, "events/s", problem)
