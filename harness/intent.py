"""Design intent: structural signals in a candidate's source, and the claims-vs-delivered matrix.

Signals are data, one file per language under scenarios/scoring/signals/: each is an
ast-grep rule (tree-sitter grammars, through ast-grep-py) that shows a piece of design
(an fsync of the file just written, a process group made at spawn, a loop over the log's
records that dispatches on the event type...), never a line of text. `find_signals`
parses every source file of a candidate's merged tree (its folder over the folders it
extends) and records each match as file, line, the line itself and what it is taken to
mean. A match inside a comment or a string never counts: the language's file names the
node kinds that hold prose. Intent for a capability = the manifest claims it AND a signal
is found. A candidate whose language has no signals is left unjudged (its intent score
is None and every profile falls back to execution), never scored 0.

The matrix sets each capability's claim beside what execution showed. It is pure: it
reads only the check results, never the candidate's words about itself.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.errors import ScoringDataError
from harness.model import CAPABILITIES, Candidate, CheckResult, Outcome
from harness.safefs import CellFiles, Unsafe
from harness.scoring import UNJUDGED
from harness.tomlfile import read_toml
from harness.tree import candidate_files

if TYPE_CHECKING:
    from ast_grep_py import Config, SgNode

FALLBACK = "every profile scores execution alone"  # said wherever intent is not judged
MAX_FILE_BYTES = 2_000_000  # a generated engine's source file is far smaller; data is skipped
SIGNAL_KEYS = {"capability", "means", "rule", "constraints", "utils", "grammars"}
LANGUAGE_KEYS = {"name", "aliases", "files", "prose", "signals"}


@dataclass(frozen=True, slots=True)
class Signal:
    """One structural pattern: an ast-grep config ({"rule": ..., "constraints"/"utils"})."""

    capability: str
    config: Mapping[str, Any]
    means: str
    grammars: tuple[str, ...]  # the grammars it applies to (all of the language's if empty)


@dataclass(frozen=True, slots=True)
class Language:
    name: str
    aliases: tuple[str, ...]  # other manifest spellings (case is ignored): "golang", "ts"
    files: tuple[tuple[str, str], ...]  # (file-name glob, ast-grep grammar), first match wins
    prose: tuple[str, ...]  # node kinds of comments and strings: nothing inside them counts
    signals: tuple[Signal, ...]

    def grammar(self, filename: str) -> str | None:
        return next((g for glob, g in self.files if fnmatch.fnmatch(filename, glob)), None)


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
    language: str = ""

    def signals(self, capability: str) -> list[Hit]:
        return [h for h in self.hits if h.capability == capability]

    def has_intent(self, capability: str) -> bool:
        return capability in self.claims and bool(self.signals(capability))

    @property
    def score(self) -> float | None:
        """10 x the share of the capabilities that are claimed and show a signal; None
        where the language has no signals, so that intent could not be read at all."""
        if not self.language_known:
            return None
        return round(10.0 * sum(self.has_intent(c) for c in CAPABILITIES) / len(CAPABILITIES), 2)

    @property
    def not_judged(self) -> str:
        """Why design intent was not judged ("" when it was)."""
        if self.language_known:
            return ""
        return f"design intent not judged: no signals for {self.language or 'this language'}"


def _strings(where: str, value: object) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise ScoringDataError(f"{where}: must be a list of non-empty strings")
    return tuple(value)


def _signal(where: str, s: object, grammars: set[str]) -> Signal:
    from ast_grep_py import SgRoot  # a Rust extension: loaded only when signals are

    if not isinstance(s, dict) or not {"capability", "means", "rule"} <= set(s):
        raise ScoringDataError(f"{where}: needs 'capability', 'means' and a 'rule' table")
    unknown = set(s) - SIGNAL_KEYS
    if unknown:
        raise ScoringDataError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if s["capability"] not in CAPABILITIES:
        raise ScoringDataError(f"{where}.capability: {s['capability']!r} is not one of the"
                               f" 13 capabilities ({', '.join(CAPABILITIES)})")
    if not (isinstance(s["means"], str) and s["means"]):
        raise ScoringDataError(f"{where}.means: must be a non-empty string")
    if not isinstance(s["rule"], dict) or not s["rule"]:
        raise ScoringDataError(f"{where}.rule: must be a non-empty table (an ast-grep rule)")
    only = _strings(f"{where}.grammars", s.get("grammars", []))
    if set(only) - grammars:
        raise ScoringDataError(f"{where}.grammars: {sorted(set(only) - grammars)[0]!r} is not"
                               f" a grammar of this language's files ({', '.join(sorted(grammars))})")
    config = {k: s[k] for k in ("rule", "constraints", "utils") if k in s}
    for grammar in only or sorted(grammars):  # a rule ast-grep cannot read fails here, not later
        try:
            SgRoot("", grammar).root().find_all(cast("Config", config))
        except BaseException as exc:  # the extension raises plain exceptions and panics alike
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise ScoringDataError(f"{where}.rule: not a valid ast-grep rule for {grammar}:"
                                   f" {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                   ) from None
    return Signal(s["capability"], config, s["means"], only)


KNOWN_GRAMMARS = ("python", "go", "rust", "javascript", "typescript", "tsx", "java", "c", "cpp")


def load_language(path: Path) -> Language:
    """One language's signals from its TOML file."""
    data = read_toml(path, ScoringDataError)
    unknown = set(data) - LANGUAGE_KEYS
    if unknown:
        raise ScoringDataError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    name = data.get("name")
    if not (isinstance(name, str) and name):
        raise ScoringDataError(f"{path}: needs name = \"LANGUAGE\" (as manifests spell it)")
    files = data.get("files")
    if not (isinstance(files, dict) and files and all(
            isinstance(g, str) and g in KNOWN_GRAMMARS for g in files.values())):
        raise ScoringDataError(f"{path}.files: must be a table of file-name glob = grammar,"
                               f" each grammar one of {', '.join(KNOWN_GRAMMARS)}")
    signals = data.get("signals", [])
    if not isinstance(signals, list):
        raise ScoringDataError(f"{path}.signals: must be an array of tables ([[signals]])")
    grammars = set(files.values())
    return Language(name.lower(), tuple(a.lower() for a in _strings(f"{path}.aliases",
                                                                     data.get("aliases", []))),
                    tuple(files.items()), _strings(f"{path}.prose", data.get("prose", [])),
                    tuple(_signal(f"{path}: signals[{i}]", s, grammars)
                          for i, s in enumerate(signals)))


def load_signals(folder: Path) -> dict[str, Language]:
    """Every language's signals (one TOML file each), keyed by every lower-cased name
    and alias a manifest may give."""
    if not folder.is_dir():
        raise ScoringDataError(f"{folder}: not a folder of language signal files (NAME.toml)")
    found: dict[str, Language] = {}
    for path in sorted(folder.glob("*.toml")):
        lang = load_language(path)
        for key in (lang.name, *lang.aliases):
            if key in found:
                raise ScoringDataError(f"{path}: language name {key!r} is also given by"
                                       f" {found[key].name}")
            found[key] = lang
    if not found:
        raise ScoringDataError(f"{folder}: holds no language signal file (NAME.toml)")
    return found


def _in_prose(node: SgNode, prose: Sequence[str]) -> bool:
    """Whether the match is a comment or string, or lies inside one, or inside code the
    preprocessor drops (`#if 0`): none of them is design."""
    at: SgNode | None = node
    while at is not None:
        kind = at.kind()
        if kind in prose:
            return True
        if kind == "preproc_if":
            cond = at.field("condition")
            if cond is not None and cond.text().strip() in ("0", "false"):
                return True
        at = at.parent()
    return False


def scan_text(rel: str, text: str, lang: Language) -> list[Hit]:
    """Every signal of the language found in one file's text (none for an unknown kind)."""
    grammar = lang.grammar(Path(rel).name)
    if grammar is None:
        return []
    return [Hit(cap, rel, number, line, means)
            for cap, number, line, means in _scan_memo(text, grammar, lang)]


_Found = tuple[tuple[str, int, str, str], ...]  # (capability, line number, line, means)
_MEMO: dict[tuple[int, str, str], tuple[Language, _Found]] = {}
_MEMO_SIZE = 4096


def _scan_memo(text: str, grammar: str, lang: Language) -> _Found:
    """The signals in a text, read once per language: candidates that extend another
    folder (every mutant extends the reference) share most of their files."""
    key = (id(lang), grammar, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    held = _MEMO.get(key)
    if held is not None and held[0] is lang:
        return held[1]
    found = _scan(text, grammar, lang)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = (lang, found)
    return found


def _scan(text: str, grammar: str, lang: Language) -> _Found:
    from ast_grep_py import SgRoot

    root = SgRoot(text, grammar).root()
    lines = text.splitlines()
    hits: dict[tuple[str, int, str], str] = {}
    for s in lang.signals:
        if s.grammars and grammar not in s.grammars:
            continue
        for node in root.find_all(cast("Config", s.config)):
            if _in_prose(node, lang.prose):
                continue
            number = node.range().start.line + 1
            line = lines[number - 1].strip()[:200] if number <= len(lines) else ""
            hits.setdefault((s.capability, number, s.means), line)
    return tuple(sorted(((cap, number, line, means) for (cap, number, means), line in hits.items()),
                        key=lambda h: (h[1], h[0], h[3])))


def scan(files: Iterable[tuple[str, str]], lang: Language) -> tuple[Hit, ...]:
    """Every signal of the language found in (relative path, text) pairs."""
    return tuple(h for rel, text in files for h in scan_text(rel, text, lang))


def find_signals(c: Candidate, languages: Mapping[str, Language]) -> Intent:
    """Parse the candidate's merged tree and find its language's signals."""
    lang = languages.get(c.language.lower())
    if lang is None:
        return Intent(False, (), c.claims, c.language)
    texts = []
    for rel, path in candidate_files(c):
        if lang.grammar(Path(rel).name) is None:
            continue
        # The candidate's files are untrusted and the harness may run as root: read each
        # beneath its own folder, never through a link, never from a FIFO or device, and
        # never more than the cap (a file over it is skipped: it shows no intent).
        root = path.parents[len(Path(rel).parts) - 1]
        try:
            data = CellFiles(root).read_strict(rel, MAX_FILE_BYTES)
        except (Unsafe, OSError):
            continue
        if data is not None:
            texts.append((rel, data.decode("utf-8", errors="replace")))
    return Intent(True, scan(texts, lang), c.claims, c.language)


NO_STEP_RAN = ("no step of any scenario's workflow ran to success (per the probes' audit):"
               " design signals in code that never ran a step are not credited")


def credited(intent: Intent, steps_succeeded: Sequence[int]) -> tuple[float | None, str]:
    """The intent score a candidate is credited with, and why it is withheld ("" if not).
    None, with the reason, where intent was not judged at all (no signals for its language).

    `steps_succeeded` holds, per judged cell, how many of its workflow's steps ran to
    success according to the probes. Design signals are evidence of intent in code that
    runs: where no cell saw a single step succeed, there was no running engine for them
    to be the design of, and a fake that names every signal and forges its log would
    otherwise earn up to the intent weight for doing nothing. With no judged cell at all
    nothing is known either way, and the static score stands."""
    score = intent.score
    if score is None:
        return None, intent.not_judged
    if steps_succeeded and not any(steps_succeeded) and score > 0:
        return 0.0, NO_STEP_RAN
    return score, ""


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
