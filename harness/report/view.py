"""The report's view model: everything the HTML templates show, prepared as plain data.

Templates only lay this out: every decision (what counts as failing, which line of an
excerpt is the offending one, where a matrix cell links to, what a timeline looks
like) is made here, in code that tests can reach. Strings stay raw; the templates
escape them (autoescaping is on), so nothing a candidate wrote can become markup.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks.common import EXCERPT_LINE
from harness.intent import FALLBACK
from harness.model import CAPABILITIES
from harness.profiles import cap_reason
from harness.report import timeline as tl
from harness.report.baseline import Diff
from harness.report.doc import verdicts
from harness.report.speedview import SpeedFigure, speed_figures, yardstick_note
from harness.report.trialview import FlakyView, flaky_marks, flaky_views, mean_text, trial_suffix
from harness.suites import coverage_of

SEVERITY_ORDER = {"fatal": 0, "major": 1, "minor": 2}
STATES: dict[str, tuple[str, str]] = {  # state -> (symbol, legend)
    "claimed_verified": ("\u2713", "claimed and verified"),
    "claimed_refuted": ("\u2717", "claimed and refuted: it says it does what it does not"),
    "unclaimed_verified": ("+", "not claimed, but verified"),
    "unclaimed_missing": ("\u2013", "not claimed and missing"),
    "claimed_untested": ("?", "claimed, but no check of it could be judged"),
    "unclaimed_untested": ("\u00b7", "not claimed and not judged"),
}
EXCERPT_WIDTH = 180  # characters of a log line shown in an excerpt
SIGNALS_SHOWN = 3  # per capability; the rest are counted


@dataclass(frozen=True, slots=True)
class Score:
    text: str
    value: float  # for sorting; -1 when there is no score
    capped: bool = False
    title: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    href: str
    cls: str = ""


@dataclass(frozen=True, slots=True)
class LeaderRow:
    name: str
    href: str
    language: str
    scores: tuple[Score, ...]  # one per profile, in the report's profile order
    execution: Score
    intent: Score
    passed: int
    failed: int
    infra: int
    failing: tuple[Link, ...]  # failed checks, each to its evidence
    not_exercised: int = 0
    flaky: int = 0  # (check, scenario) pairs that passed in some trials and failed in others
    speed: tuple[SpeedFigure, ...] = ()  # run, status; () where no throughput cell ran


@dataclass(frozen=True, slots=True)
class MatrixCell:
    state: str
    symbol: str
    href: str
    title: str


@dataclass(frozen=True, slots=True)
class MatrixRow:
    name: str
    href: str
    cells: tuple[MatrixCell, ...]


@dataclass(frozen=True, slots=True)
class ExcerptLine:
    text: str
    hot: bool  # the line the check points at
    heading: bool  # "before:" / "after:" and other labels


@dataclass(frozen=True, slots=True)
class EvidenceView:
    expected: str
    seen: str
    where: str
    excerpt: tuple[ExcerptLine, ...]


@dataclass(frozen=True, slots=True)
class CheckView:
    anchor: str
    check: str
    capability: str
    severity: str
    scenario: str
    outcome: str
    detail: str
    evidence: tuple[EvidenceView, ...]
    reproduce: str
    findings: tuple[str, ...]  # the review's findings this check stands for
    timeline_href: str
    trial: int = 0


@dataclass(frozen=True, slots=True)
class CheckGroup:
    """One failed check: its first failure in full (evidence and excerpt), and the other
    scenarios it failed in as one line each (their full evidence is in results.json and
    junit.xml), so a check that failed in eight scenarios does not fill the page."""

    first: CheckView
    others: tuple[CheckView, ...]
    flaky: str = ""  # "flaky: p of n trials passed" when it passed in some trials


@dataclass(frozen=True, slots=True)
class Signal:
    where: str  # file:line
    text: str
    means: str


@dataclass(frozen=True, slots=True)
class CapabilityView:
    anchor: str
    capability: str
    state: str
    symbol: str
    legend: str
    claimed: bool
    signals: tuple[Signal, ...]
    more_signals: int  # found but not shown (harness intent --all-signals lists them)
    failed: tuple[Link, ...]
    passed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CellView:
    anchor: str
    scenario: str
    seed: int
    runner: str
    reproduce: str
    duration: str
    infra_error: str
    failed: tuple[Link, ...]
    picture: tl.Timeline
    limits_hit: str
    trial: int = 0
    faults: tuple[str, ...] = ()  # each kill: exact (the call) or timed (the moment)
    crash_states: str = ""  # the crash-states scenario's tally, in words


@dataclass(frozen=True, slots=True)
class FindingView:
    defect: str
    review: str
    checks: tuple[Link, ...]
    shown: bool  # at least one of its checks failed


@dataclass(frozen=True, slots=True)
class ProfileScore:
    profile: str
    score: Score
    raw: str
    caps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CandidateView:
    name: str
    anchor: str
    description: str
    language: str
    path: str
    origin: tuple[tuple[str, str], ...]
    profiles: tuple[ProfileScore, ...]
    execution: Score
    intent: Score
    findings: tuple[FindingView, ...]
    failing: tuple[CheckView, ...]
    groups: tuple[CheckGroup, ...]  # failing, one group per check
    infra: tuple[CheckView, ...]
    capabilities: tuple[CapabilityView, ...]
    cells: tuple[CellView, ...]
    passed: tuple[str, ...]
    tally: str
    cap_reasons: tuple[str, ...]  # why scores are capped, once for every profile
    not_exercised: tuple[CheckView, ...] = ()  # what each guards never happened
    intent_withheld: str = ""  # why design intent was not credited, if it was not
    trials: int = 1
    headline: Score | None = None  # with trials: the mean and its interval
    flaky: tuple[FlakyView, ...] = ()
    intent_judged: bool = True  # False: no signals for its language, so none were looked for
    intent_command: str = ""  # `harness intent WHERE --all-signals`, WHERE as the CLI finds it


@dataclass(frozen=True, slots=True)
class ChangeRow:
    candidate: str
    href: str
    check: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class BaselineView:
    name: str
    created: str
    profile: str
    regressions: tuple[ChangeRow, ...]
    fixes: tuple[ChangeRow, ...]
    other: tuple[tuple[str, ChangeRow], ...]  # (kind, row): infra, not_exercised, new, dropped
    scores: tuple[tuple[str, str, str, str, str], ...]  # name, href, before, after, delta
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    name: str
    intent_weight: str
    fatal_cap: str
    description: str
    headline: bool


@dataclass(frozen=True, slots=True)
class Report:
    created: str
    harness_version: str
    seed: str
    runner: str
    scenarios: tuple[str, ...]
    profiles: tuple[ProfileInfo, ...]
    headline: str
    core: tuple[str, ...]
    capabilities: tuple[str, ...]
    leaderboard: tuple[LeaderRow, ...]
    matrix: tuple[MatrixRow, ...]
    states: tuple[tuple[str, str, str], ...]  # state, symbol, legend
    candidates: tuple[CandidateView, ...]
    baseline: BaselineView | None
    infra_total: int
    stopped: str = ""  # the run stopped before its last cell: why (results.json "stopped")
    not_exercised_total: int = 0
    trials: int = 1
    speed_note: str = ""  # what the throughput ratios are relative to; "": no figures
    partial: str = ""  # a partial run: what it judged ("partial: 6 of 15 scenarios (...)")
    missing: tuple[str, ...] = ()  # the scenarios a partial run left out


def fmt(x: Any) -> str:
    return "\u2014" if not isinstance(x, int | float) or isinstance(x, bool) else f"{x:.2f}"


def score(x: Any, capped: bool = False, title: str = "") -> Score:
    ok = isinstance(x, int | float) and not isinstance(x, bool)
    return Score(fmt(x), float(x) if ok else -1.0, capped, title)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def excerpt_lines(text: str) -> tuple[ExcerptLine, ...]:
    """Lines of an excerpt, each cut to EXCERPT_WIDTH (results.json keeps them whole)."""
    return tuple(ExcerptLine(clip(line), line.startswith(">"), not EXCERPT_LINE.match(line))
                 for line in text.split("\n")) if text else ()


def clip(line: str) -> str:
    return line if len(line) <= EXCERPT_WIDTH else line[:EXCERPT_WIDTH - 1] + "\u2026"


def evidence(ev: Sequence[Mapping[str, Any]]) -> tuple[EvidenceView, ...]:
    return tuple(EvidenceView(str(e.get("expected", "")), str(e.get("seen", "")),
                              str(e.get("where", "")), excerpt_lines(str(e.get("excerpt", ""))))
                 for e in ev)


def limits_text(cell: Mapping[str, Any]) -> str:
    """The limits the cell ran into: the sandbox's counts, and its wall-clock limit."""
    hit = (cell.get("sandbox") or {}).get("limits_hit") or {}
    parts = [f"{k}={v}" for k, v in hit.items()] if isinstance(hit, dict) else []
    return ", ".join([*parts, *([str(cell["cell_limit"])] if cell.get("cell_limit") else [])])


def fault_lines(cell: Mapping[str, Any]) -> tuple[str, ...]:
    """Each kill of a crash scenario, saying whether it was exact or timed, and why a
    cell had no exact kills (its recording could not be used)."""
    out = []
    for f in cell.get("faults") or []:
        if not isinstance(f, Mapping):
            continue
        missed = "" if f.get("struck") else " (the run ended before it)"
        if f.get("kind") == "exact":
            where = "STATE_DIR" if f.get("path") == "." else f.get("path")
            n = f.get("ordinal")
            out.append(f"{f.get('run')}: exact, at its call #{n} of {f.get('syscall')} on"
                       f" {where}{missed}")
        else:
            out.append(f"{f.get('run')}: timed, {f.get('at')}{missed}")
    for name, rec in (cell.get("recordings") or {}).items():
        if isinstance(rec, Mapping) and rec.get("unavailable"):
            out.append(f"no exact crash points ({name}): {rec['unavailable']}")
    return tuple(out)


def states_text(cell: Mapping[str, Any]) -> str:
    """The crash-states tally in words: passed of tried per model, and the first failure."""
    tally = cell.get("crash_states")
    if not isinstance(tally, dict):
        return ""
    rows = [f"{m} {r.get('passed', 0)}/{r.get('tried', 0)} passed"
            for m, r in (tally.get("models") or {}).items() if isinstance(r, dict)]
    text = f"crash states: {', '.join(rows)} ({tally.get('deduped', 0)} twins dropped)"
    first = tally.get("first_failing")
    if isinstance(first, dict):
        text += (f"; first failing: {first.get('model')} state '{first.get('state')}':"
                 f" {first.get('explanation')}")
        if first.get("saved"):
            text += f"; saved in {first['saved']}/"
        if first.get("replay"):
            text += f"; replay: {first['replay']}"
    return text


def cap_reasons(cand: Mapping[str, Any]) -> tuple[str, ...]:
    """Why the scores are capped, one line per failed fatal check with its scenarios (the
    same failures cap every profile, so they are said once)."""
    scenarios: dict[tuple[str, str], list[str]] = {}
    for ps in cand["profiles"].values():
        for cap in ps.get("caps", []):
            key = (str(cap.get("check", "")), str(cap.get("capability", "")))
            where = scenarios.setdefault(key, [])
            if str(cap.get("scenario", "")) not in where:
                where.append(str(cap.get("scenario", "")))
    return tuple(cap_reason(check, capability, where)
                 for (check, capability), where in scenarios.items())


def groups(failing: Sequence[CheckView],
           flaky: Mapping[str, str] | None = None) -> tuple[CheckGroup, ...]:
    by_check: dict[str, list[CheckView]] = {}
    for c in failing:
        by_check.setdefault(c.check, []).append(c)
    return tuple(CheckGroup(views[0], tuple(views[1:]), (flaky or {}).get(check, ""))
                 for check, views in by_check.items())


def candidate_anchor(idx: int, name: str) -> str:
    """The id of the section of the idx-th candidate (in results.json order) in index.html;
    `harness compare` links to it."""
    return f"c{idx}-{slug(name)}"


def intent_note(cand: Mapping[str, Any]) -> str:
    """The banner on why design intent was not credited, or not judged at all."""
    intent = cand.get("intent") or {}
    withheld = str(intent.get("withheld") or "")
    if not withheld:
        return ""
    if intent.get("language_known") is False:  # not judged: every profile is execution alone
        return withheld[:1].upper() + withheld[1:] + f"; {FALLBACK}"
    return f"Design intent not credited: {withheld}"


BUNDLED = Path(__file__).resolve().parents[2] / "candidates"


def intent_command(cand: Mapping[str, Any]) -> str:
    """`harness intent WHERE --all-signals`: WHERE is the candidate's name when it is the
    bundled folder of that name (the CLI finds names there), else its folder's path."""
    name, path = str(cand["name"]), str(cand.get("path") or "")
    bundled = path and Path(path) == BUNDLED / name
    return shlex.join(["harness", "intent", name if bundled or not path else path,
                       "--all-signals"])


def candidate_view(idx: int, cand: Mapping[str, Any], order: Sequence[str]) -> CandidateView:
    anchor = candidate_anchor(idx, str(cand["name"]))
    findings_of: dict[str, list[str]] = {}
    for f in cand.get("findings", []):
        for chk in f.get("checks", []):
            findings_of.setdefault(str(chk), []).append(str(f.get("defect", "")))
    cell_anchor = {(str(c["scenario"]), int(c.get("trial", 0))):
                   f"{anchor}-run-{slug(str(c['scenario']))}{trial_suffix(int(c.get('trial', 0)))}"
                   for c in cand["cells"]}

    def view(n: int, chk: Mapping[str, Any]) -> CheckView:
        return CheckView(f"{anchor}-chk-{n}", str(chk["check"]), str(chk["capability"]),
                         str(chk["severity"]), str(chk["scenario"]), str(chk["outcome"]),
                         str(chk.get("detail", "")), evidence(chk["evidence"]),
                         str(chk["reproduce"]), tuple(findings_of.get(str(chk["check"]), ())),
                         "#" + cell_anchor.get((str(chk["scenario"]), int(chk.get("trial", 0))),
                                               anchor), int(chk.get("trial", 0)))

    checks = [view(n, c) for n, c in enumerate(cand["checks"])]
    judged = verdicts(cand)  # each check once, as results.json judged it
    failing = sorted((c for c in checks if c.outcome == "fail"),
                     key=lambda c: (SEVERITY_ORDER.get(c.severity, 9), c.capability, c.check,
                                    c.scenario, c.trial))
    grouped = groups(failing, flaky_marks(cand))
    first_fail = {g.first.check: "#" + g.first.anchor for g in grouped}
    infra = tuple(c for c in checks if c.outcome == "infra_error")
    unexercised = tuple(c for c in checks if c.outcome == "not_exercised")
    passed = tuple(sorted(k for k, v in judged.items() if v == "pass"))

    caps = []
    matrix = cand.get("matrix", {})
    signals = (cand.get("intent") or {}).get("signals", {})
    for cap in CAPABILITIES:
        m = matrix.get(cap, {})
        state = str(m.get("state", "unclaimed_untested"))
        symbol, legend = STATES.get(state, ("?", state))
        fails = {g.first.check: "#" + g.first.anchor for g in grouped
                 if g.first.capability == cap}
        caps.append(CapabilityView(
            f"{anchor}-cap-{cap}", cap, state, symbol, legend, bool(m.get("claimed")),
            tuple(Signal(f"{s.get('file')}:{s.get('line')}", str(s.get("text", "")),
                         str(s.get("means", ""))) for s in signals.get(cap, [])[:SIGNALS_SHOWN]),
            max(0, len(signals.get(cap, [])) - SIGNALS_SHOWN),
            tuple(Link(k, v) for k, v in fails.items()),
            tuple(sorted({c.check for c in checks
                          if c.capability == cap and judged.get(c.check) == "pass"}))))

    cells = []
    for c in cand["cells"]:
        sc, trial = str(c["scenario"]), int(c.get("trial", 0))
        cells.append(CellView(
            cell_anchor[(sc, trial)], sc, int(c["seed"]), str(c["runner"]), str(c["reproduce"]),
            f"{c.get('duration_s', 0):.1f} s", str(c.get("infra_error") or ""),
            tuple(Link(x.check, "#" + x.anchor) for x in failing
                  if x.scenario == sc and x.trial == trial),
            tl.build(c.get("timeline"), c.get("duration_s")), limits_text(c), trial,
            fault_lines(c), states_text(c)))

    profiles = []
    for p in order:
        ps = cand["profiles"][p]
        reasons = tuple(str(x.get("reason", "")) for x in ps.get("caps", []))
        profiles.append(ProfileScore(p, score(ps.get("score"), bool(ps.get("capped")),
                                              "; ".join(reasons)), fmt(ps.get("raw")), reasons))
    origin = tuple((k, str(v)) for k, v in (cand.get("origin") or {}).items() if v)
    findings = tuple(
        FindingView(str(f.get("defect", "")), str(f.get("review", "")),
                    tuple(Link(str(k), first_fail.get(str(k), ""), "fail" if k in first_fail
                               else "not_exercised" if judged.get(str(k)) == "not_exercised"
                               else "pass") for k in f.get("checks", [])),
                    any(k in first_fail for k in f.get("checks", [])))
        for f in cand.get("findings", []))
    t = cand.get("tally", {})
    headline = cand.get("headline_profile")
    pooled = next((p.score for p in profiles if p.profile == headline), score(None))
    flaky = flaky_views(cand, first_fail)
    return CandidateView(
        str(cand["name"]), anchor, str(cand.get("description", "")),
        str(cand.get("language", "")), str(cand.get("path", "")), origin, tuple(profiles),
        score(cand.get("execution_score")), score(cand.get("intent_score")), findings,
        tuple(failing), grouped, infra, tuple(caps), tuple(cells), passed,
        f"{t.get('pass', 0)} passed, {t.get('fail', 0)} failed, {t.get('not_exercised', 0)}"
        f" not exercised, {t.get('infra_error', 0)} infrastructure errors (scenario \u00d7 check)",
        cap_reasons(cand), unexercised, intent_note(cand),
        int(cand.get("trials") or 1), headline_score(cand, pooled), flaky,
        (cand.get("intent") or {}).get("language_known") is not False, intent_command(cand))


def headline_score(cand: Mapping[str, Any], pooled: Score) -> Score | None:
    """With trials, the headline as the mean over them (± half its interval); None with
    one trial, where the headline profile's score says it all."""
    mean = mean_text(cand, pooled.text)
    return None if mean is None else Score(mean[0], mean[1], pooled.capped, mean[2])


def leader_row(cv: CandidateView, cand: Mapping[str, Any], yardstick: str = "") -> LeaderRow:
    t = cand.get("tally", {})
    head = cv.headline
    return LeaderRow(cv.name, "#" + cv.anchor, cv.language,
                     tuple(head if head is not None and p.profile == cand.get("headline_profile")
                           else p.score for p in cv.profiles),
                     cv.execution, cv.intent, int(t.get("pass", 0)), int(t.get("fail", 0)),
                     int(t.get("infra_error", 0)),
                     tuple(Link(g.first.check, "#" + g.first.anchor, "fail") for g in cv.groups),
                     int(t.get("not_exercised", 0)), len(cv.flaky),
                     speed_figures(cand, yardstick))


def baseline_view(d: Diff, name: str, created: str, hrefs: Mapping[str, str]) -> BaselineView:
    def row(c: Any) -> ChangeRow:
        return ChangeRow(c.candidate, hrefs.get(c.candidate, ""), c.check, c.before or "\u2014",
                         c.after or "\u2014")

    return BaselineView(
        name, created, d.profile, tuple(row(c) for c in d.of_kind("regression")),
        tuple(row(c) for c in d.of_kind("fix")),
        tuple((c.kind, row(c)) for c in d.changes
              if c.kind in ("infra", "not_exercised", "new", "dropped")),
        tuple((s.candidate, hrefs.get(s.candidate, ""), fmt(s.before), fmt(s.after),
               "\u2014" if s.delta is None else f"{s.delta:+.2f}") for s in d.scores),
        d.added, d.removed)


def build(doc: Mapping[str, Any], diff: Diff | None = None, baseline_name: str = "",
          baseline_created: str = "") -> Report:
    order = list(doc["profiles"])
    headline = str(doc["headline_profile"])
    core = {str(c) for c in doc.get("core_capabilities", [])}
    cands = list(doc["candidates"].values())
    views = [candidate_view(i, c, order) for i, c in enumerate(cands)]
    yardstick = str((doc.get("yardstick") or {}).get("candidate", ""))
    board = sorted((leader_row(v, c, yardstick) for v, c in zip(views, cands, strict=True)),
                   key=lambda r: (-r.scores[order.index(headline)].value, r.name))
    matrix = tuple(MatrixRow(v.name, "#" + v.anchor,
                             tuple(MatrixCell(cap.state, cap.symbol, "#" + cap.anchor,
                                              f"{v.name} / {cap.capability}: {cap.legend}")
                                   for cap in v.capabilities)) for v in views)
    profiles = tuple(ProfileInfo(p, fmt(i.get("intent_weight")), fmt(i.get("fatal_cap")),
                                 str(i.get("description", "")), p == headline)
                     for p, i in doc["profiles"].items())
    runner = doc.get("runner", {})
    coverage = coverage_of(doc)
    hrefs = {v.name: "#" + v.anchor for v in views}
    return Report(
        str(doc.get("created", "")), str(doc.get("harness_version", "")), str(doc["seed"]),
        str(runner.get("why") or runner.get("runner", "")) if isinstance(runner, dict) else "",
        tuple(str(s) for s in doc["scenarios"]), profiles, headline, tuple(sorted(core)),
        CAPABILITIES, tuple(board), matrix,
        tuple((s, sym, legend) for s, (sym, legend) in STATES.items()), tuple(views),
        baseline_view(diff, baseline_name, baseline_created, hrefs) if diff else None,
        sum(len(v.infra) for v in views),
        str(doc.get("stopped") or "incomplete") if doc.get("complete") is False else "",
        sum(len(v.not_exercised) for v in views), int(doc.get("trials") or 1),
        yardstick_note(doc),
        coverage.judged() if coverage.partial else "", coverage.missing)
