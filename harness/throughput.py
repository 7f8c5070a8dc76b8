"""Throughput: how fast an engine runs steps and answers `status`, measured, never judged.

The throughput scenario (scenarios/throughput.toml, procedure in
harness/faults/throughput.py) times whole invocations: `run` of a workflow of no-op steps
in a fresh STATE_DIR, and `status` of a valid log the harness writes (`status_case`).
Each figure is the median over a few repeats (a shared machine is noisy); a repeat
counts only where the engine did the work (the run exited 0 with every step succeeded
in its log; status exited 0 and printed the contract's status of the log), and a
candidate none of whose repeats counts gets no figure, with the reason, rather than a
low one: correctness is the other scenarios' business.

Figures become ratios to a yardstick measured in the same run on the same runner: the
bundled reference's own throughput cell (`harness.api.yardstick`). The reference's
ratio to itself is therefore exactly 1. Nothing here enters a score unless a profile
gives `speed_weight` (`speed_score`). Everything in this module is pure.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.model import CellResult

SCENARIO = "throughput"  # the bundled scenario's name (and its procedure's)
STEPS = "steps_per_s"  # the two figures, as results.json names them
STATUS = "status_events_per_s"
FIGURES = (STEPS, STATUS)
YARDSTICK = "reference"  # the yardstick's name in a run, unless a candidate has that name
EXTRA = "measures"  # the cell's extra key that holds its figures (harness.measures)


def workflow_doc(name: str, steps: int, max_parallel: int, command: Sequence[str]) -> dict[str, Any]:
    """A workflow of `steps` independent steps that each run `command`."""
    return {"name": name, "max_parallel": max_parallel,
            "steps": [{"id": f"s{i:04d}", "command": list(command)} for i in range(steps)]}


def status_case(n_events: int) -> tuple[bytes, bytes]:
    """A workflow and a finished, contract-valid log of about n_events events for it.

    Per step STEP_STARTED then STEP_SUCCEEDED; every fourth step first fails (exit) and
    is retried; every hundredth is lost to a crash and resumed (WORKFLOW_RESUMED, a lost
    STEP_FAILED, a new attempt). seq is contiguous and the digest is the workflow's, so
    any engine that meets TASK.md reads it. The same n_events gives the same bytes."""
    n_steps = max(1, n_events * 4 // 11)  # about 2.75 events per step
    ids = [f"s{i:05d}" for i in range(n_steps)]
    wf = json.dumps({"name": "throughput-status", "max_parallel": 4,
                     "steps": [{"id": s, "command": ["true"],
                                "retry": {"max_attempts": 2, "backoff_s": 0.5}} for s in ids]})
    wf_bytes = (wf + "\n").encode()
    events: list[dict[str, Any]] = [{"type": "WORKFLOW_STARTED", "workflow": "throughput-status",
                                     "digest": hashlib.sha256(wf_bytes).hexdigest()}]
    pid = 1000
    for i, sid in enumerate(ids):
        pid += 1
        events.append({"type": "STEP_STARTED", "step": sid, "attempt": 1, "pid": pid, "pgid": pid})
        attempt = 1
        if i % 4 == 3:
            events += [{"type": "STEP_FAILED", "step": sid, "attempt": 1, "reason": "exit",
                        "exit_code": 1},
                       {"type": "STEP_RETRY_SCHEDULED", "step": sid, "attempt": 2, "delay_s": 0.5}]
            attempt, pid = 2, pid + 1
            events.append({"type": "STEP_STARTED", "step": sid, "attempt": 2, "pid": pid,
                           "pgid": pid})
        if i % 100 == 99:
            events += [{"type": "WORKFLOW_RESUMED"},
                       {"type": "STEP_FAILED", "step": sid, "attempt": attempt, "reason": "lost"}]
            attempt, pid = attempt + 1, pid + 1
            events.append({"type": "STEP_STARTED", "step": sid, "attempt": attempt, "pid": pid,
                           "pgid": pid})
        events.append({"type": "STEP_SUCCEEDED", "step": sid, "attempt": attempt})
    events.append({"type": "WORKFLOW_SUCCEEDED"})
    lines = [json.dumps({"seq": n, "ts": 1_700_000_000 + n / 1000, **e}, separators=(",", ":"))
             for n, e in enumerate(events, start=1)]
    return wf_bytes, ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Figure:
    """One measure of one cell: a rate (work per second of wall time, the median over
    the repeats that counted), or None with the reason."""

    value: float | None
    unit: str
    work: int  # steps or events per repeat
    walls_s: tuple[float, ...] = ()  # the wall time of each repeat that counted
    why: str = ""  # why there is no figure ("" when there is one)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "work": self.work,
                "walls_s": [round(w, 4) for w in self.walls_s], "why": self.why}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Figure:
        value = d.get("value")
        return cls(None if value is None else float(value), str(d.get("unit", "")),
                   int(d.get("work", 0)), tuple(float(w) for w in d.get("walls_s", ())),
                   str(d.get("why", "")))


def median_rate(work: int, walls_s: Sequence[float]) -> float | None:
    """work / the median wall time; None with no repeat (or a median of no time)."""
    if not walls_s or work <= 0:
        return None
    med = statistics.median(walls_s)
    return round(work / med, 2) if med > 0 else None


def ratio(value: float | None, yardstick: float | None) -> float | None:
    """value / yardstick (above 1: faster than the yardstick); None if either is missing."""
    if value is None or yardstick is None or yardstick <= 0:
        return None
    return round(value / yardstick, 3)


@dataclass(frozen=True, slots=True)
class Rate:
    """A candidate's figure over its throughput cells, and its ratio to the yardstick."""

    name: str  # STEPS or STATUS
    value: float | None  # the median of its cells' figures; None: no cell has one
    ratio: float | None
    why: str = ""  # why there is no value, or no ratio

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "ratio": self.ratio, "why": self.why}


@dataclass(frozen=True, slots=True)
class Throughput:
    """A candidate's throughput figures, or None where no throughput cell ran."""

    rates: tuple[Rate, ...]  # one per FIGURES name, in that order
    yardstick: str  # the candidate whose cells the ratios divide by

    def rate(self, name: str) -> Rate:
        return next(r for r in self.rates if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"yardstick": self.yardstick, **{r.name: r.to_json() for r in self.rates}}


def cell_figures(cell: CellResult) -> dict[str, Figure]:
    """The figures a throughput cell recorded (none for any other cell)."""
    raw = cell.extra.get(EXTRA)
    if not isinstance(raw, Mapping):
        return {}
    return {k: Figure.from_json(v) for k, v in raw.items() if k in FIGURES and isinstance(v, Mapping)}


def pooled(cells: Sequence[CellResult], name: str) -> tuple[float | None, str]:
    """The median of the cells' figures of one name, or None and why there is none."""
    figs = [f for cell in cells for k, f in cell_figures(cell).items() if k == name]
    values = [f.value for f in figs if f.value is not None]
    if values:
        return round(statistics.median(values), 2), ""
    why = next((f.why for f in figs if f.why), "")
    broken = next((c.infra_error for c in cells if c.infra_error), "")
    if not why and broken:
        why = f"the cell could not be run: {broken}"
    return None, why or "no throughput cell finished"


def is_throughput(cell: CellResult) -> bool:
    """A cell of the throughput scenario (one that broke before measuring included)."""
    return EXTRA in cell.extra or cell.scenario == SCENARIO


def throughput_of(cells: Sequence[CellResult], yard_cells: Sequence[CellResult],
                  yardstick: str) -> Throughput | None:
    """A candidate's figures from its cells and their ratios to the yardstick's cells of
    the same run; None where the candidate has no throughput cell."""
    mine = [c for c in cells if is_throughput(c)]
    if not mine:
        return None
    yard = [c for c in yard_cells if is_throughput(c)]
    rates = []
    for name in FIGURES:
        value, why = pooled(mine, name)
        base, base_why = pooled(yard, name) if yard else (None, "it did not run")
        r = ratio(value, base)
        if value is not None and r is None:
            why = f"no ratio: the yardstick ({yardstick}) has no figure: {base_why}"
        rates.append(Rate(name, value, r, why))
    return Throughput(tuple(rates), yardstick)


def speed_score(t: Throughput | None) -> float | None:
    """10 x the mean of the two ratios, each capped at 1 (as fast as the yardstick is as
    good as speed gets here); None when neither ratio exists. Only a profile with a
    `speed_weight` reads it."""
    if t is None:
        return None
    ratios = [min(1.0, r.ratio) for r in t.rates if r.ratio is not None]
    return round(10.0 * sum(ratios) / len(ratios), 2) if ratios else None

