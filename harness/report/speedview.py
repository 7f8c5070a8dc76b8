"""The throughput figures as the report shows them: plain data for the templates.

Reads only what results.json says (a candidate's `throughput`, the run's `yardstick`),
never the cells. A figure is shown as its value and its ratio to the yardstick; a
missing one as "no figure", its reason in the title: it is not a zero and not a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.throughput import STATUS, STEPS

UNITS = {STEPS: "steps/s", STATUS: "events/s"}
LABELS = {STEPS: "run", STATUS: "status"}


@dataclass(frozen=True, slots=True)
class SpeedFigure:
    """One figure of one candidate, for a table cell."""

    text: str  # "131.2" or "no figure"
    ratio: str  # "x0.98", or "" where there is no ratio
    value: float  # for sorting by the ratio (else the value); -1 when there is none
    title: str  # the unit and the yardstick, or why there is no figure


def short_why(why: str) -> str:
    """A reason in one line: its first line, and its last where it runs over several (the
    end of a traceback says the most)."""
    lines = [ln.strip() for ln in why.splitlines() if ln.strip()]
    if not lines:
        return ""
    said = lines[0] if len(lines) == 1 else f"{lines[0]} \u2026 {lines[-1]}"
    return said[:300]


def figure_view(name: str, raw: Mapping[str, Any] | None, yardstick: str) -> SpeedFigure:
    value = raw.get("value") if raw else None
    ratio = raw.get("ratio") if raw else None
    why = str(raw.get("why") or "") if raw else "the throughput scenario did not run"
    if not isinstance(value, int | float):
        return SpeedFigure("no figure", "", -1.0, short_why(why))
    unit = UNITS[name]
    if isinstance(ratio, int | float):
        return SpeedFigure(f"{value:,.1f}", f"\u00d7{ratio:.2f}", float(ratio),
                           f"{LABELS[name]}: {value:,.1f} {unit}, {ratio:.2f} times {yardstick}'s"
                           " in the same run (median of the repeats)")
    return SpeedFigure(f"{value:,.1f}", "", -1.0, f"{LABELS[name]}: {value:,.1f} {unit}; {why}")


def speed_figures(cand: Mapping[str, Any], yardstick: str) -> tuple[SpeedFigure, ...]:
    """The candidate's two figures (run, then status); () where no throughput cell ran."""
    t = cand.get("throughput")
    if not isinstance(t, Mapping):
        return ()
    return tuple(figure_view(name, t.get(name), yardstick) for name in (STEPS, STATUS))


def yardstick_note(doc: Mapping[str, Any]) -> str:
    """One sentence: what the ratios are relative to, and that they are not scored."""
    y = doc.get("yardstick")
    if not isinstance(y, Mapping) or not any(isinstance(c.get("throughput"), Mapping)
                                             for c in doc["candidates"].values()):
        return ""
    name = str(y.get("candidate", "reference"))
    how = "a scored candidate" if y.get("scored") else "run once as the yardstick, not scored"
    parts = []
    for key in (STEPS, STATUS):
        f = y.get(key)
        if isinstance(f, Mapping) and isinstance(f.get("value"), int | float):
            parts.append(f"{f['value']:,.1f} {UNITS[key]}")
    figures = f" ({', '.join(parts)})" if parts else " (no figure)"
    speed = [p for p, i in doc.get("profiles", {}).items() if i.get("speed_weight")]
    scored = (f"; weighed only in {', '.join(speed)}" if speed else "; in no profile's score")
    return (f"Throughput: run = steps/s on no-op steps, status = events/s; \u00d7 is the ratio"
            f" to {name} in the same run on the same runner ({how}){figures}{scored}.")


def terminal_lines(doc: Mapping[str, Any]) -> list[str]:
    """The terminal summary's throughput lines: the note, then one line per candidate
    that has figures (the table itself keeps to 80 columns)."""
    note = yardstick_note(doc)
    if not note:
        return []
    yardstick = str((doc.get("yardstick") or {}).get("candidate", ""))
    lines = [note]
    for name, cand in doc["candidates"].items():
        figs = speed_figures(cand, yardstick)
        if figs:
            said = [f"{LABELS[k]} " + (f"no figure ({f.title})" if f.text == "no figure"
                                       else f"{f.text} {UNITS[k]} {f.ratio}".rstrip())
                    for k, f in zip((STEPS, STATUS), figs, strict=True)]
            lines.append(f"{name} throughput: {'; '.join(said)}")
    return lines
