"""compare.html's view model, and the page rendered from it with jinja2.

As for index.html, every decision (how a number is written, where an interval bar
starts, the colour of a heatmap cell, where a candidate links to) is made here, in code;
the template only lays it out, with autoescaping on. The page is self-contained and
runs no script: its Content-Security-Policy allows inline styles only, so it opens
offline and can load nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from harness.groups import Comparison, Group, Rate
from harness.model import CAPABILITIES
from harness.report import html
from harness.report.compare_inputs import Run
from harness.report.view import candidate_anchor

BAR_W, BAR_H, PAD = 240, 18, 10  # the interval bar's SVG, 0..10 mapped to PAD..BAR_W-PAD
SCALE_MAX = 10.0
DASH = "\u2014"


def num(x: float | None, digits: int = 2) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def pct(x: float | None) -> str:
    return DASH if x is None else f"{x:.0%}"


def interval_text(iv: tuple[float, float] | None, digits: int = 2) -> str:
    return DASH if iv is None else f"[{iv[0]:.{digits}f}, {iv[1]:.{digits}f}]"


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    href: str  # "" when the run has no index.html to link to


@dataclass(frozen=True, slots=True)
class Bar:
    """An interval bar in SVG user units: lo..hi (None: no interval) and the mean."""

    lo: float | None
    hi: float | None
    mean: float
    label: str


@dataclass(frozen=True, slots=True)
class LeaderRow:
    rank: int
    name: str
    alone: bool  # no value for the key: a group of one, named after its candidate
    n: int
    n_scored: int
    mean: str
    interval: str
    bar: Bar | None
    pass_10: str  # pass@1 .. pass@n
    pass_no_fatal: str
    members: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class HeatCell:
    text: str
    counts: str
    title: str
    style: str  # a background colour; the numbers are always written too


@dataclass(frozen=True, slots=True)
class HeatRow:
    capability: str
    cells: tuple[HeatCell, ...]


@dataclass(frozen=True, slots=True)
class PairRow:
    a: str
    b: str
    n: str
    diff: str
    interval: str
    p: str
    verdict: str
    decisive: bool
    separating: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComparePage:
    key: str
    seed: int
    runs: tuple[Link, ...]
    warnings: tuple[str, ...]
    leaderboard: tuple[LeaderRow, ...]
    groups: tuple[str, ...]
    heatmap: tuple[HeatRow, ...]
    pairs: tuple[PairRow, ...]
    ticks: tuple[tuple[float, str], ...]
    bar_w: int
    bar_h: int


def x_of(score: float) -> float:
    clamped = min(max(score, 0.0), SCALE_MAX)
    return round(PAD + clamped / SCALE_MAX * (BAR_W - 2 * PAD), 1)


def bar(g: Group) -> Bar | None:
    if g.mean is None:
        return None
    iv = g.interval
    label = (f"{g.name}: mean {g.mean:.2f}"
             + (f", 95% interval {iv[0]:.2f} to {iv[1]:.2f}" if iv else ", no interval"))
    return Bar(x_of(iv[0]) if iv else None, x_of(iv[1]) if iv else None, x_of(g.mean), label)


def evidence_href(run: Run, name: str, out: Path) -> str:
    """The candidate's section in its run's index.html, relative to the page; "" if the
    run folder holds no index.html."""
    page = run.folder / "index.html"
    if not page.is_file():
        return ""
    idx = list(run.doc["candidates"]).index(name)
    cand_name = str(run.doc["candidates"][name].get("name", name))
    return f"{Path(os.path.relpath(page, out)).as_posix()}#{candidate_anchor(idx, cand_name)}"


def ks(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) or DASH


def leader_row(rank: int, g: Group, runs: Sequence[Run], out: Path) -> LeaderRow:
    return LeaderRow(rank, g.name, not g.keyed, g.n, len(g.scores), num(g.mean),
                     interval_text(g.interval), bar(g), ks(g.pass_10), ks(g.pass_no_fatal),
                     tuple(Link(f"{m.name} ({num(m.score)})",
                                evidence_href(runs[m.run], m.name, out)) for m in g.members))


def heat_cell(group: str, cap: str, r: Rate | None) -> HeatCell:
    if r is None or r.rate is None:
        return HeatCell(DASH, "", f"{group} / {cap}: not judged", "")
    iv = r.interval
    title = (f"{group} / {cap}: {r.passed} of {r.passed + r.failed} check results passed"
             + (f", Wilson 95% interval {iv[0]:.0%} to {iv[1]:.0%}" if iv else ""))
    hue = round(r.rate * 120)  # red (0) .. green (120), light enough for dark text
    return HeatCell(pct(r.rate), f"{r.passed}/{r.passed + r.failed}", title,
                    f"background:hsl({hue},65%,82%)")


def heatmap(groups: Sequence[Group]) -> tuple[HeatRow, ...]:
    seen = {cap for g in groups for cap, _ in g.capabilities}
    caps = [c for c in CAPABILITIES if c in seen] + sorted(seen - set(CAPABILITIES))
    rates = [dict(g.capabilities) for g in groups]
    return tuple(HeatRow(cap, tuple(heat_cell(g.name, cap, r.get(cap))
                                    for g, r in zip(groups, rates, strict=True)))
                 for cap in caps)


def build(cmp: Comparison, runs: Sequence[Run], out: Path,
          warnings: Sequence[str]) -> ComparePage:
    pairs = tuple(PairRow(p.a, p.b, f"{p.n_a}, {p.n_b}",
                          DASH if p.diff is None else f"{p.diff:+.2f}", interval_text(p.interval),
                          DASH if p.p is None else f"{p.p:.3f}", p.verdict,
                          not p.verdict.startswith("not "),
                          tuple(f"{s.check}: {s.rate_a:.0%} vs {s.rate_b:.0%}"
                                for s in p.separating))
                  for p in cmp.pairs)
    run_links = tuple(Link(str(r.path), Path(os.path.relpath(r.folder / "index.html", out))
                           .as_posix() if (r.folder / "index.html").is_file() else "")
                      for r in runs)
    return ComparePage(cmp.key, cmp.seed, run_links, tuple(warnings),
                       tuple(leader_row(i, g, runs, out) for i, g in enumerate(cmp.groups, 1)),
                       tuple(g.name for g in cmp.groups), heatmap(cmp.groups), pairs,
                       tuple((x_of(v), f"{v:g}") for v in (0.0, 2.5, 5.0, 7.5, 10.0)),
                       BAR_W, BAR_H)


def render(page: ComparePage) -> str:
    css = (html.TEMPLATES / "style.css").read_text() + (html.TEMPLATES / "compare.css").read_text()
    return html.environment().get_template("compare.html.j2").render(p=page, css=Markup(css))
