"""The timeline picture of one cell: engine invocations and step attempts over time.

Geometry only: this turns a cell's recorded timeline (probe starts and ends from the
audit, engine invocations and the faults the harness injected, all on one clock) into
bars, markers and ticks in SVG user units. The template draws them; nothing here knows
HTML, and every label is plain text that the template escapes.

Lanes, top to bottom: the engine's invocations (packed into as few rows as overlap
allows: a concurrent second run gets a row of its own), then one lane per step in the
order steps first started. An attempt's bar runs from its probe's start to its end; an
attempt that never ended (its process was killed) runs to when it was first seen dead,
or to the end of the cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GUTTER = 120.0  # lane labels
PLOT = 760.0
PAD_RIGHT = 20.0
LANE = 18.0
BAR = 12.0
AXIS = 22.0
TOP = 6.0


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    cls: str  # ok, failed, killed, inv, inv-killed, inv-failed
    label: str  # drawn inside when it fits
    title: str  # the tooltip: what and when


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y1: float
    y2: float
    cls: str  # fault, resume
    label: str
    title: str


@dataclass(frozen=True, slots=True)
class Lane:
    y: float  # baseline of the label
    label: str
    shade: bool


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    width: float
    height: float
    plot_top: float
    plot_bottom: float
    lanes: tuple[Lane, ...]
    bars: tuple[Bar, ...]
    markers: tuple[Marker, ...]
    ticks: tuple[Tick, ...]
    span_s: float
    attempts: int
    kills: int
    resumes: int

    @property
    def empty(self) -> bool:
        return not self.bars

    @property
    def grid(self) -> str:
        """The tick lines as one SVG path (one element instead of one per tick)."""
        return " ".join(f"M{t.x:.0f} {self.plot_top:.0f}V{self.plot_bottom:.0f}" for t in self.ticks)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _tick_step(span: float) -> float:
    """A 1-2-5 step giving about 6 to 12 ticks over span."""
    raw = span / 8
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _pack(spans: Sequence[tuple[float, float]]) -> list[int]:
    """Row of each span (in the given order) so that spans in one row do not overlap."""
    row_ends: list[float] = []
    rows = []
    for start, end in spans:
        for i, reach in enumerate(row_ends):
            if start >= reach:
                row_ends[i] = end
                rows.append(i)
                break
        else:
            row_ends.append(end)
            rows.append(len(row_ends) - 1)
    return rows


def _fits(label: str, w: float) -> str:
    return label if w >= 7.0 * len(label) + 6 else ""


def build(timeline: Mapping[str, Any] | None, duration_s: float | None = None) -> Timeline:
    runs = [r for r in (timeline or {}).get("runs", []) if _num(r.get("start")) is not None]
    invs = [i for i in (timeline or {}).get("invocations", [])
            if _num(i.get("start")) is not None]
    times = [t for r in runs for t in (_num(r.get("start")), _num(r.get("end")), _num(r.get("died")))
             if t is not None]
    times += [t for i in invs for t in (_num(i.get("start")), _num(i.get("end")),
                                         _num(i.get("fault_at"))) if t is not None]
    span = max([*times, _num(duration_s) or 0.0, 0.001])
    step = _tick_step(span)
    span = math.ceil(span / step) * step

    def x(t: float) -> float:
        return GUTTER + PLOT * max(0.0, t) / span

    def width(a: float, b: float) -> float:
        return max(2.0, x(b) - x(a))

    lanes: list[Lane] = []
    bars: list[Bar] = []
    markers: list[Marker] = []
    y = TOP
    inv_spans = [(float(i["start"]), _num(i.get("end")) or span) for i in invs]
    inv_rows = _pack(inv_spans)
    n_inv_rows = max(inv_rows, default=-1) + 1
    order = list(dict.fromkeys(str(r.get("step")) for r in sorted(runs, key=lambda r: float(r["start"]))))
    steps_top = y + LANE * n_inv_rows + (4 if n_inv_rows else 0)
    bottom = steps_top + LANE * len(order)  # markers run down across every lane
    for r in range(n_inv_rows):
        lanes.append(Lane(y + LANE * r + 13, "engine" if r == 0 else "", True))
    first_run = next((i["label"] for i in invs if str(i.get("label", "")).startswith("run")), None)
    resumes = kills = 0
    for inv, (start, end), row in zip(invs, inv_spans, inv_rows, strict=True):
        by = y + LANE * row + (LANE - BAR) / 2
        rc = inv.get("returncode")
        cls = "inv-killed" if inv.get("fault") else "inv" if rc in (0, None) else "inv-failed"
        code = "no exit" if rc is None else f"exit {rc}"  # the fault says which limit
        fault = f"; {inv['fault']}" if inv.get("fault") else ""
        label = str(inv.get("label", ""))
        bars.append(Bar(x(start), by, width(start, end), BAR, cls, _fits(label, width(start, end)),
                        f"{label}: {start:.2f}-{end:.2f} s, {code}{fault}"))
        if label.startswith("run") and label != first_run:
            resumes += 1
            markers.append(Marker(x(start), TOP, bottom, "resume", "resume",
                                  f"{label} starts at {start:.2f} s: a resume over the same log"))
        fault_at = _num(inv.get("fault_at"))
        if fault_at is not None:
            kills += 1
            markers.append(Marker(x(fault_at), TOP, bottom, "fault", "kill",
                                  f"{label}: {inv.get('fault', 'fault')} at {fault_at:.2f} s"))
    y = steps_top
    for n, stepname in enumerate(order):
        lanes.append(Lane(y + LANE * n + 13, stepname, n % 2 == 1))
        for r in (r for r in runs if str(r.get("step")) == stepname):
            start = float(r["start"])
            ended, died = _num(r.get("end")), _num(r.get("died"))
            if ended is not None:
                cls, end = ("ok" if r.get("exit") == 0 else "failed"), ended
                what = f"exit {r.get('exit')}"
            else:
                cls, end = "killed", died if died is not None else span
                what = "killed before it ended" if died is not None else "still running at the end"
            label = f"#{r.get('run')}"
            bars.append(Bar(x(start), y + LANE * n + (LANE - BAR) / 2, width(start, end), BAR, cls,
                            _fits(label, width(start, end)),
                            f"{stepname} #{r.get('run')}: {start:.2f}-{end:.2f} s, {what}"))
    ticks = []
    t = 0.0
    while t <= span + step / 2:
        ticks.append(Tick(x(t), f"{t:g} s" if t else "0"))
        t = round(t + step, 9)
    return Timeline(GUTTER + PLOT + PAD_RIGHT, bottom + AXIS, TOP, bottom, tuple(lanes),
                    tuple(bars), tuple(markers), tuple(ticks), span, len(runs), kills, resumes)
