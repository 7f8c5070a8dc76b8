"""Groups of candidates (by `origin.KEY`) and every pair of groups, with their statistics.

Pure: from results documents (dicts, as results.json) to frozen records, which
`harness compare` renders. The unit is the candidate: its value is its `score`, the
mean over its trials, so a group's interval is a bootstrap over candidates (clustered
by candidate when there are trials). A candidate with no value for the key (no
`origin.model`, say) is a group of its own, named after the candidate. A candidate with
no score (nothing to score) counts in its group's n and its pass@k, but not in its mean.
A pair's verdict says "X > Y" only when the interval of the difference excludes 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import stats
from harness.errors import UsageError
from harness.model import CAPABILITIES
from harness.report.doc import verdicts

DEFAULT_KEY = "origin.model"
PERFECT = 10.0
SEPARATING = 5  # checks listed per pair
EPS = 1e-9  # scores are rounded floats: 9.999999999 is a 10


@dataclass(frozen=True, slots=True)
class Member:
    """One candidate of a group: `run` is the index of its results document."""

    name: str
    run: int
    score: float | None
    trials: int
    scores_10: bool  # every trial scored 10
    no_fatal: bool  # no trial failed a fatal check


@dataclass(frozen=True, slots=True)
class Rate:
    """passed / (passed + failed), with its Wilson interval; None when nothing was judged."""

    passed: int
    failed: int
    rate: float | None
    interval: stats.Interval | None


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    keyed: bool  # False: the candidate had no value for the key and is alone, under its name
    members: tuple[Member, ...]
    mean: float | None
    interval: stats.Interval | None
    capabilities: tuple[tuple[str, Rate], ...]
    pass_10: tuple[float, ...]  # pass@k of "scores 10", k = 1 .. n
    pass_no_fatal: tuple[float, ...]  # pass@k of "no fatal check failed", k = 1 .. n
    checks: tuple[tuple[str, Rate], ...]

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def scores(self) -> tuple[float, ...]:
        return tuple(m.score for m in self.members if m.score is not None)


@dataclass(frozen=True, slots=True)
class Separation:
    check: str
    rate_a: float
    rate_b: float

    @property
    def diff(self) -> float:
        return self.rate_a - self.rate_b


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    n_a: int  # scored candidates of a
    n_b: int
    diff: float | None  # mean(a) - mean(b)
    interval: stats.Interval | None
    p: float | None
    verdict: str
    separating: tuple[Separation, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    key: str
    seed: int
    groups: tuple[Group, ...]  # best mean first
    pairs: tuple[Pair, ...]


def origin_key(key: str) -> str:
    """KEY of "origin.KEY", or UsageError."""
    prefix, _, name = key.partition(".")
    if prefix != "origin" or not name or "." in name:
        raise UsageError(f"--group-by {key!r}: expected origin.KEY (origin.model,"
                         " origin.prompt_version, ...)")
    return name


def _rate(passed: int, failed: int) -> Rate:
    n = passed + failed
    return Rate(passed, failed, passed / n if n else None, stats.wilson(passed, n))


def _trials(cand: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    per_trial = cand.get("per_trial")
    return list(per_trial) if isinstance(per_trial, list) and per_trial else []


def _perfect(score: Any) -> bool:
    return isinstance(score, int | float) and score >= PERFECT - EPS


def member(name: str, run: int, cand: Mapping[str, Any]) -> Member:
    """A candidate as a group sees it; without per_trial, its score and checks stand in."""
    trials = _trials(cand)
    if trials:
        scores_10 = all(_perfect(t.get("score")) for t in trials)
        no_fatal = not any(t.get("fatal_failed") for t in trials)
    else:
        scores_10 = _perfect(cand.get("score"))
        no_fatal = not any(c.get("severity") == "fatal" and c.get("outcome") == "fail"
                           for c in cand.get("checks", []))
    score = cand.get("score")
    return Member(name, run, float(score) if isinstance(score, int | float) else None,
                  int(cand.get("trials", 1)), scores_10, no_fatal)


def _capability_rates(cands: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, Rate], ...]:
    """Per capability: check results (scenario x check x trial) passed and failed."""
    counts: dict[str, list[int]] = {}
    for cand in cands:
        for chk in cand.get("checks", []):
            if chk.get("outcome") in ("pass", "fail"):
                c = counts.setdefault(str(chk["capability"]), [0, 0])
                c[chk["outcome"] == "fail"] += 1
    order = [c for c in CAPABILITIES if c in counts] + sorted(set(counts) - set(CAPABILITIES))
    return tuple((cap, _rate(*counts[cap])) for cap in order)


def _check_rates(cands: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, Rate], ...]:
    """Per check: its verdicts passed and failed, one per candidate and trial
    (`check_rates`; a file without it is judged once per candidate)."""
    counts: dict[str, list[int]] = {}
    for cand in cands:
        rates = cand.get("check_rates")
        if isinstance(rates, Mapping):
            pairs = [(str(k), int(v["passed"]), int(v["failed"])) for k, v in rates.items()]
        else:
            pairs = [(k, int(v == "pass"), int(v == "fail")) for k, v in verdicts(cand).items()]
        for check, p, f in pairs:
            c = counts.setdefault(check, [0, 0])
            c[0], c[1] = c[0] + p, c[1] + f
    return tuple((check, _rate(*counts[check])) for check in sorted(counts))


def _pass_at(members: Sequence[Member], passes: int) -> tuple[float, ...]:
    n = len(members)
    return tuple(stats.pass_at_k(n, passes, k) for k in range(1, n + 1))


def group(name: str, keyed: bool, members: Sequence[tuple[Member, Mapping[str, Any]]],
          seed: int) -> Group:
    ms = tuple(m for m, _ in members)
    cands = [c for _, c in members]
    scores = [m.score for m in ms if m.score is not None]
    return Group(name, keyed, ms, sum(scores) / len(scores) if scores else None,
                 stats.bootstrap_mean(scores, seed=seed), _capability_rates(cands),
                 _pass_at(ms, sum(m.scores_10 for m in ms)),
                 _pass_at(ms, sum(m.no_fatal for m in ms)), _check_rates(cands))


def verdict(a: Group, b: Group, interval: stats.Interval | None) -> str:
    """"A > B" (or "B > A") only when the interval of mean(a) - mean(b) excludes 0."""
    if interval is not None and interval[0] > 0:
        return f"{a.name} > {b.name}"
    if interval is not None and interval[1] < 0:
        return f"{b.name} > {a.name}"
    return f"not distinguishable with n = {len(a.scores)}, {len(b.scores)}"


def separating(a: Group, b: Group, top: int = SEPARATING) -> tuple[Separation, ...]:
    """The checks whose pass rates differ most between a and b (largest |difference|
    first; a check judged in only one of them, or at the same rate, separates nothing)."""
    rates_b = dict(b.checks)
    seps = [Separation(check, ra.rate, rb.rate) for check, ra in a.checks
            if ra.rate is not None and (rb := rates_b.get(check)) is not None
            and rb.rate is not None and ra.rate != rb.rate]
    return tuple(sorted(seps, key=lambda s: (-abs(s.diff), s.check))[:top])


def pair(a: Group, b: Group, seed: int) -> Pair:
    sa, sb = a.scores, b.scores
    interval = stats.bootstrap_diff(sa, sb, seed=seed)
    return Pair(a.name, b.name, len(sa), len(sb),
                sum(sa) / len(sa) - sum(sb) / len(sb) if sa and sb else None, interval,
                stats.permutation_p(sa, sb, seed=seed), verdict(a, b, interval),
                separating(a, b))


def _value(cand: Mapping[str, Any], field: str) -> str:
    origin = cand.get("origin")
    value = origin.get(field) if isinstance(origin, Mapping) else None
    return "" if value is None else str(value)


def compare(docs: Sequence[Mapping[str, Any]], key: str = DEFAULT_KEY,
            seed: int = stats.DEFAULT_SEED) -> Comparison:
    """Every candidate of docs grouped by key (origin.KEY), the groups best mean first
    (groups with no score last), and every two groups compared."""
    field = origin_key(key)
    keyed: dict[str, list[tuple[Member, Mapping[str, Any]]]] = {}
    alone: list[tuple[str, tuple[Member, Mapping[str, Any]]]] = []
    for run, doc in enumerate(docs):
        for name, cand in doc["candidates"].items():
            value = _value(cand, field)
            entry = (member(name, run, cand), cand)
            if value:
                keyed.setdefault(value, []).append(entry)
            else:
                alone.append((name, entry))
    groups = [group(v, True, ms, seed) for v, ms in keyed.items()]
    groups += [group(name if name not in keyed else f"{name} (no {key})", False, [entry], seed)
               for name, entry in alone]
    groups.sort(key=lambda g: (g.mean is None, -(g.mean or 0.0), g.name))
    return Comparison(key, seed, tuple(groups),
                      tuple(pair(a, b, seed) for a, b in itertools.combinations(groups, 2)))
