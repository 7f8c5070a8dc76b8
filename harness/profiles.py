"""Scoring profiles as data: how execution and design intent combine, and the fatal caps.

Profiles live in scenarios/scoring/profiles.toml. Each weighs the intent score against
the execution score, and caps a candidate that failed a FATAL check of a core capability
it claims (a workflow engine whose log does not survive is not a working engine,
whatever its design). Speed (the throughput figures, `harness.throughput.speed_score`)
counts only in a profile that gives it a `speed_weight`; none of the bundled ones does.
The computation is pure: check results in, scores out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScoringDataError, UsageError
from harness.model import CAPABILITIES, CheckResult, Outcome, Severity
from harness.tomlfile import read_toml


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    intent_weight: float
    fatal_cap: float
    description: str
    speed_weight: float = 0.0  # 0: the throughput figures are shown, never scored


@dataclass(frozen=True, slots=True)
class Profiles:
    profiles: tuple[Profile, ...]
    default: str
    core: frozenset[str]

    def get(self, name: str) -> Profile:
        for p in self.profiles:
            if p.name == name:
                return p
        raise UsageError(f"--profile {name}: no such profile (known: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.profiles]


@dataclass(frozen=True, slots=True)
class Cap:
    """Why a profile's fatal cap applies: a FATAL check of a claimed core capability failed."""

    capability: str
    check: str
    scenario: str

    @property
    def reason(self) -> str:
        return cap_reason(self.check, self.capability, (self.scenario,))


def cap_reason(check: str, capability: str, scenarios: Sequence[str]) -> str:
    """Why a failed fatal check caps a score (in one scenario or several)."""
    return (f"{check} (fatal) failed in {', '.join(scenarios)}: {capability} is a core"
            " capability the candidate claims")


@dataclass(frozen=True, slots=True)
class ProfileScore:
    profile: str
    score: float | None
    raw: float | None
    caps: tuple[Cap, ...]

    @property
    def capped(self) -> bool:
        """A failed fatal check of a claimed core capability holds this score down."""
        return bool(self.caps)


def _number(where: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ScoringDataError(f"{where}: must be a number from {low} to {high}")
    return float(value)


def load_profiles(path: Path) -> Profiles:
    data = read_toml(path, ScoringDataError)
    table = data.get("profiles")
    if not isinstance(table, dict) or not table:
        raise ScoringDataError(f"{path}: needs a [profiles.NAME] table per profile")
    found = []
    for name, p in table.items():
        where = f"{path}: profiles.{name}"
        if not isinstance(p, dict):
            raise ScoringDataError(f"{where}: must be a table")
        unknown = set(p) - {"intent_weight", "fatal_cap", "description", "speed_weight"}
        if unknown:
            raise ScoringDataError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        description = p.get("description", "")
        if not isinstance(description, str):
            raise ScoringDataError(f"{where}.description: must be a string")
        found.append(Profile(name, _number(f"{where}.intent_weight", p.get("intent_weight"), 0, 1),
                             _number(f"{where}.fatal_cap", p.get("fatal_cap"), 0, 10), description,
                             _number(f"{where}.speed_weight", p.get("speed_weight", 0.0), 0, 1)))
    default = data.get("default")
    if default not in table:
        raise ScoringDataError(f"{path}: 'default' must name one of the profiles"
                               f" ({', '.join(table)}), got {default!r}")
    core = data.get("core", [])
    if not (isinstance(core, list) and all(c in CAPABILITIES for c in core)):
        raise ScoringDataError(f"{path}: 'core' must be a list of capabilities"
                               f" ({', '.join(CAPABILITIES)})")
    return Profiles(tuple(found), str(default), frozenset(core))


def fatal_caps(results: Iterable[tuple[str, CheckResult]], claims: frozenset[str],
               core: frozenset[str]) -> tuple[Cap, ...]:
    """Every failed FATAL check of a core capability the candidate claims, once each."""
    caps = {Cap(r.capability, r.check, scenario) for scenario, r in results
            if r.outcome is Outcome.FAIL and r.severity is Severity.FATAL
            and r.capability in core and r.capability in claims}
    return tuple(sorted(caps, key=lambda c: (c.capability, c.check, c.scenario)))


def profile_score(p: Profile, execution: float | None, intent: float | None,
                  caps: tuple[Cap, ...], speed: float | None = None) -> ProfileScore:
    """raw = (1-w)*execution + w*intent; a cap scales raw into [0, fatal_cap], keeping order.

    Intent None (not judged: no signals for the candidate's language) is not a 0: the
    profile falls back to execution alone. With a speed_weight s and a speed score (0..10),
    raw becomes (1-s)*raw + s*speed; with no speed score (no throughput figure) raw stays
    as it is, so an engine is never marked down here for what other scenarios judge."""
    if execution is None:  # nothing could be judged: no score, rather than a made-up one
        return ProfileScore(p.name, None, None, caps)
    raw = execution if intent is None else (1 - p.intent_weight) * execution + p.intent_weight * intent
    if p.speed_weight and speed is not None:
        raw = (1 - p.speed_weight) * raw + p.speed_weight * speed
    score = raw * p.fatal_cap / 10 if caps else raw
    return ProfileScore(p.name, round(score, 2), round(raw, 2), caps)


def score_all(profiles: Profiles, execution: float | None, intent: float | None,
              results: Iterable[tuple[str, CheckResult]],
              claims: frozenset[str], speed: float | None = None) -> Mapping[str, ProfileScore]:
    caps = fatal_caps(results, claims, profiles.core)
    return {p.name: profile_score(p, execution, intent, caps, speed) for p in profiles.profiles}
