"""Design intent: static signals in a candidate's source, and the claims-vs-delivered matrix.

Signal patterns are data (scenarios/scoring/signals.toml), per language. `find_signals`
scans a candidate's merged tree (its folder over the folders it extends) line by line,
leaving out comment lines and block comments or docstrings, and records every match
with file:line. Intent for a capability = the manifest claims it AND a signal is found.

The matrix sets each capability's claim beside what execution showed. It is pure: it
reads only the check results, never the candidate's words about itself.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from harness.errors import ScoringDataError
from harness.model import CAPABILITIES, Candidate, CheckResult, Outcome
from harness.scoring import UNJUDGED
from harness.tomlfile import read_toml
from harness.tree import candidate_files

MAX_FILE_BYTES = 2_000_000  # a generated engine's source file is far smaller; data is skipped


@dataclass(frozen=True, slots=True)
class Signal:
    capability: str
    pattern: re.Pattern[str]
    means: str


@dataclass(frozen=True, slots=True)
class Language:
    name: str
    files: tuple[str, ...]
    comment: str
    blocks: tuple[tuple[str, str], ...]
    signals: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """One signal found: where, the line as written, and what it is taken to mean."""

    capability: str
    file: str
    line: int
    text: str
    means: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text, "means": self.means}


@dataclass(frozen=True, slots=True)
class Intent:
    """A candidate's design intent: the signals found, and which capabilities show intent."""

    language_known: bool
    hits: tuple[Hit, ...]
    claims: frozenset[str]

    def signals(self, capability: str) -> list[Hit]:
        return [h for h in self.hits if h.capability == capability]

    def has_intent(self, capability: str) -> bool:
        return capability in self.claims and bool(self.signals(capability))

    @property
    def score(self) -> float:
        """10 x the share of the capabilities that are claimed and show a signal."""
        return round(10.0 * sum(self.has_intent(c) for c in CAPABILITIES) / len(CAPABILITIES), 2)


def _strings(where: str, value: object) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        raise ScoringDataError(f"{where}: must be a non-empty list of non-empty strings")
    return tuple(value)


def _language(path: Path, name: str, table: object) -> Language:
    where = f"{path}: languages.{name}"
    if not isinstance(table, dict):
        raise ScoringDataError(f"{where}: must be a table")
    unknown = set(table) - {"files", "comment", "blocks", "signals"}
    if unknown:
        raise ScoringDataError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    comment = table.get("comment", "")
    if not isinstance(comment, str):
        raise ScoringDataError(f"{where}.comment: must be a string")
    blocks = table.get("blocks", [])
    if not (isinstance(blocks, list) and all(
            isinstance(b, list) and len(b) == 2 and all(isinstance(x, str) and x for x in b)
            for b in blocks)):
        raise ScoringDataError(f"{where}.blocks: must be a list of [open, close] string pairs")
    signals = table.get("signals", [])
    if not isinstance(signals, list):
        raise ScoringDataError(f"{where}.signals: must be an array of tables")
    found = []
    for i, s in enumerate(signals):
        at = f"{where}.signals[{i}]"
        if not isinstance(s, dict) or set(s) != {"capability", "pattern", "means"}:
            raise ScoringDataError(f"{at}: needs exactly 'capability', 'pattern' and 'means'")
        if s["capability"] not in CAPABILITIES:
            raise ScoringDataError(f"{at}.capability: {s['capability']!r} is not one of the"
                                   f" 13 capabilities ({', '.join(CAPABILITIES)})")
        if not (isinstance(s["pattern"], str) and isinstance(s["means"], str)):
            raise ScoringDataError(f"{at}: 'pattern' and 'means' must be strings")
        try:
            pattern = re.compile(s["pattern"])
        except re.error as exc:
            raise ScoringDataError(f"{at}.pattern: not a valid regular expression: {exc}") from None
        found.append(Signal(s["capability"], pattern, s["means"]))
    return Language(name, _strings(f"{where}.files", table.get("files")), comment,
                    tuple((b[0], b[1]) for b in blocks), tuple(found))


def load_signals(path: Path) -> dict[str, Language]:
    """Every language's signals from the TOML file, keyed by lower-cased language name."""
    data = read_toml(path, ScoringDataError)
    languages = data.get("languages")
    if not isinstance(languages, dict) or not languages:
        raise ScoringDataError(f"{path}: needs a [languages.NAME] table per language")
    return {name.lower(): _language(path, name, table) for name, table in languages.items()}


def code_lines(text: str, comment: str, blocks: Sequence[tuple[str, str]]) -> Iterable[tuple[int, str]]:
    """(line number, line) for each line that holds code: comment lines and the lines
    of block comments or docstrings are left out."""
    closing: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if closing is not None:
            if closing in stripped:
                closing = None
            continue
        if comment and stripped.startswith(comment):
            continue
        opened = next(((o, c) for o, c in blocks if stripped.startswith(o)), None)
        if opened is not None:
            rest = stripped[len(opened[0]):]
            if opened[1] not in rest:
                closing = opened[1]
            continue
        yield number, line


def scan(files: Iterable[tuple[str, str]], lang: Language) -> tuple[Hit, ...]:
    """Every signal of the language found in (relative path, text) pairs."""
    hits = []
    for rel, text in files:
        for number, line in code_lines(text, lang.comment, lang.blocks):
            for s in lang.signals:
                if s.pattern.search(line):
                    hits.append(Hit(s.capability, rel, number, line.strip()[:200], s.means))
    return tuple(hits)


def find_signals(c: Candidate, languages: Mapping[str, Language]) -> Intent:
    """Scan the candidate's merged tree for its language's signals."""
    lang = languages.get(c.language.lower())
    if lang is None:
        return Intent(False, (), c.claims)
    texts = []
    for rel, path in candidate_files(c):
        if not any(fnmatch.fnmatch(Path(rel).name, g) for g in lang.files):
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            texts.append((rel, path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue  # a dangling link or an unreadable file shows no intent
    return Intent(True, scan(texts, lang), c.claims)


NO_STEP_RAN = ("no step of any scenario's workflow ran to success (per the probes' audit):"
               " design signals in code that never ran a step are not credited")


def credited(intent: Intent, steps_succeeded: Sequence[int]) -> tuple[float, str]:
    """The intent score a candidate is credited with, and why it is withheld ("" if not).

    `steps_succeeded` holds, per judged cell, how many of its workflow's steps ran to
    success according to the probes. Design signals are evidence of intent in code that
    runs: where no cell saw a single step succeed, there was no running engine for them
    to be the design of, and a fake that names every signal and forges its log would
    otherwise earn up to the intent weight for doing nothing. With no judged cell at all
    nothing is known either way, and the static score stands."""
    if steps_succeeded and not any(steps_succeeded) and intent.score > 0:
        return 0.0, NO_STEP_RAN
    return intent.score, ""


class Cell(Enum):
    """A capability's claim beside what execution showed."""

    CLAIMED_VERIFIED = "claimed_verified"
    CLAIMED_REFUTED = "claimed_refuted"  # the worst: it says it does what it does not
    UNCLAIMED_VERIFIED = "unclaimed_verified"
    UNCLAIMED_MISSING = "unclaimed_missing"
    CLAIMED_UNTESTED = "claimed_untested"  # no check of it could be judged
    UNCLAIMED_UNTESTED = "unclaimed_untested"


@dataclass(frozen=True, slots=True)
class MatrixCell:
    capability: str
    state: Cell
    claimed: bool
    intent: bool
    passed: tuple[str, ...]  # "scenario:check" of every judged check that passed
    failed: tuple[str, ...]


def matrix(claims: frozenset[str], intent: Intent,
           results: Iterable[tuple[str, CheckResult]]) -> tuple[MatrixCell, ...]:
    """One cell per capability, from (scenario, check result) pairs.

    Delivered = every judged check of the capability passed, and at least one was judged.
    Checks that hit an infrastructure error, or whose precondition never happened (not
    exercised), are left out: they say nothing about it."""
    passed: dict[str, list[str]] = {c: [] for c in CAPABILITIES}
    failed: dict[str, list[str]] = {c: [] for c in CAPABILITIES}
    for scenario, r in results:
        if r.capability not in passed or r.outcome in UNJUDGED:
            continue
        (passed if r.outcome is Outcome.PASS else failed)[r.capability].append(
            f"{scenario}:{r.check}")
    cells = []
    for cap in CAPABILITIES:
        claimed = cap in claims
        if failed[cap]:
            state = Cell.CLAIMED_REFUTED if claimed else Cell.UNCLAIMED_MISSING
        elif passed[cap]:
            state = Cell.CLAIMED_VERIFIED if claimed else Cell.UNCLAIMED_VERIFIED
        else:
            state = Cell.CLAIMED_UNTESTED if claimed else Cell.UNCLAIMED_UNTESTED
        cells.append(MatrixCell(cap, state, claimed, intent.has_intent(cap),
                                tuple(sorted(set(passed[cap]))), tuple(sorted(set(failed[cap])))))
    return tuple(cells)
