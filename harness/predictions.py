"""Model generations (a predictions JSONL file) turned into candidate folders.

One JSON object per line names a model, a sample and the files it wrote; each becomes a
folder DIR/<model>--<sample> with those files and a candidate.toml whose `[origin]` says
where it came from. Parsing is pure and checks every line before anything is written:
a bad line is a `UsageError` naming the line and the problem (an unknown key included,
so a typo never passes silently). The writer fills a temp folder beside DIR, loads every
folder back as the scorer will, and only then renames it into place, so DIR is either
complete or untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from harness.errors import UsageError
from harness.manifest import MANIFEST, load_candidate
from harness.model import CAPABILITIES
from harness.outdir import fsync_dir
from harness.tree import IGNORED, candidate_files

REQUIRED = ("model", "sample", "files")
OPTIONAL = ("entrypoint", "language", "claims", "prompt_version")
MAX_FILE_BYTES = 1 << 20  # one generated source file; larger is a runaway generation
MAX_SAMPLE_BYTES = 16 << 20
MAX_FILES = 1000
SLUG_CHARS = 60
# Source extensions a language is inferred from (config, docs and shell files say nothing).
LANGUAGES = {".py": "python", ".go": "go", ".js": "javascript", ".mjs": "javascript",
             ".ts": "typescript", ".rs": "rust", ".java": "java", ".rb": "ruby",
             ".c": "c", ".cc": "c++", ".cpp": "c++", ".cs": "c#", ".kt": "kotlin"}


@dataclass(frozen=True, slots=True)
class Prediction:
    """One valid line: a model's sample, as the candidate folder it becomes."""

    line: int
    model: str
    sample: str
    files: tuple[tuple[str, str], ...]  # (relative POSIX path, text), sorted by path
    entrypoint: tuple[str, ...]
    language: str
    claims: tuple[str, ...]  # in CAPABILITIES order
    prompt_version: str

    @property
    def folder(self) -> str:
        """The folder's (and the candidate's) name: <slug of model>--<slug of sample>."""
        return f"{slug(self.model)}--{slug(self.sample)}"


class _Bad(Exception):
    """One line's problem (without the line number, which the caller adds)."""


def slug(text: str) -> str:
    """text in lower case with every run of other characters than [a-z0-9._] one '-'."""
    s = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.")
    return s[:SLUG_CHARS].strip("-.")


def read(path: Path) -> list[Prediction]:
    """Every prediction in the file at path; UsageError when the file or a line is bad."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse(text, str(path))


def parse(text: str, source: str) -> list[Prediction]:
    """The predictions of a JSONL text, every line checked; one UsageError for all the
    bad lines (the first in full, the others by number). Blank lines are skipped."""
    found: list[Prediction] = []
    bad: list[tuple[int, str]] = []
    # split on \n only: JSON strings may hold U+2028 and the like raw, which splitlines cuts
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            found.append(_line(raw, n))
        except _Bad as exc:
            bad.append((n, str(exc)))
    bad.extend(_clashes(found))
    if bad:
        bad.sort()
        more = (f" (and {len(bad) - 1} more bad line(s): {', '.join(str(n) for n, _ in bad[1:6])}"
                f"{' ...' if len(bad) > 6 else ''})" if len(bad) > 1 else "")
        raise UsageError(f"{source} line {bad[0][0]}: {bad[0][1]}{more}")
    if not found:
        raise UsageError(f"{source}: no predictions in it (it is empty or only blank lines)")
    return found


def _clashes(found: Sequence[Prediction]) -> list[tuple[int, str]]:
    """The lines whose folder name an earlier line already takes, naming that line."""
    first: dict[str, Prediction] = {}
    bad = []
    for p in found:
        other = first.setdefault(p.folder, p)
        if other is p:
            continue
        if (other.model, other.sample) == (p.model, p.sample):
            bad.append((p.line, f"model {p.model!r} sample {p.sample!r} is also on line"
                                f" {other.line}: give each sample its own id"))
        else:
            bad.append((p.line, f"model {p.model!r} sample {p.sample!r} makes the folder name"
                                f" {p.folder!r}, as line {other.line} (model {other.model!r}"
                                f" sample {other.sample!r}) does: rename one"))
    return bad


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:  # json keeps the last of two silently: a typo would pass
        if key in seen:
            raise _Bad(f"key {key!r} is given twice in one object")
        seen.add(key)
    return dict(pairs)


def _line(raw: str, n: int) -> Prediction:
    try:
        obj = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # a _Bad from the hook passes through
        raise _Bad(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _Bad(f"must be a JSON object, not {_kind(obj)}")
    unknown = sorted(set(obj) - {*REQUIRED, *OPTIONAL})
    if unknown:
        raise _Bad(f"unknown key(s) {', '.join(map(repr, unknown))} (known: "
                   f"{', '.join((*REQUIRED, *OPTIONAL))})")
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise _Bad(f"missing key(s) {', '.join(map(repr, missing))}")
    model = _text(obj["model"], "model")
    sample = _id(obj["sample"], "sample")
    for key, value in (("model", model), ("sample", sample)):
        if not slug(value):
            raise _Bad(f"'{key}' {value!r} has no letter or digit to name a folder by")
    files = _files(obj["files"])
    entrypoint = _entrypoint(obj.get("entrypoint"), files)
    language = (_text(obj["language"], "language") if "language" in obj
                else _infer_language(files))
    return Prediction(n, model, sample, tuple(sorted(files.items())), entrypoint, language,
                      _claims(obj.get("claims", [])),
                      _id(obj.get("prompt_version", ""), "prompt_version", empty=True))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), "null")


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"'{key}' must be a non-empty string, not {_kind(value)}"
                   + (" (empty)" if value == "" else ""))
    _plain(value, f"'{key}'")
    return value


def _id(value: Any, key: str, empty: bool = False) -> str:
    """A string or an integer, as text (booleans are not integers here)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and (empty or value.strip()):
        _plain(value, f"'{key}'")
        return value
    raise _Bad(f"'{key}' must be a{'' if empty else ' non-empty'} string or an integer,"
               f" not {_kind(value)}" + (" (empty)" if value == "" else ""))


def _plain(text: str, what: str) -> None:
    """A name (model, sample, language ...) prints on one line: no control characters."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise _Bad(f"{what} has a control character (a newline, a tab ...) in it")
    _encodable(text, what)


def _encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(f"{what} holds a lone surrogate (\\ud8xx escape), which no file can hold") from None


def _files(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise _Bad("'files' must be a non-empty object of relative path -> text, not"
                   f" {_kind(value)}{' (empty)' if value == {} else ''}")
    if len(value) > MAX_FILES:
        raise _Bad(f"'files' has {len(value)} files, more than the {MAX_FILES} allowed")
    total = 0
    for rel, text in value.items():
        problem = _path_problem(rel)
        if problem:
            raise _Bad(f"file {rel!r} {problem}")
        if not isinstance(text, str):
            raise _Bad(f"file {rel!r}: its content must be a string (the file's text), not"
                       f" {_kind(text)}")
        _encodable(text, f"file {rel!r}")
        size = len(text.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise _Bad(f"file {rel!r} is {size} bytes, over the cap of {MAX_FILE_BYTES}")
        total += size
    if total > MAX_SAMPLE_BYTES:
        raise _Bad(f"'files' hold {total} bytes in all, over the cap of {MAX_SAMPLE_BYTES}")
    for rel in value:
        parent = next((str(p) for p in PurePosixPath(rel).parents if str(p) in value), None)
        if parent is not None:
            raise _Bad(f"file {rel!r} lies below {parent!r}, which is a file too")
    return dict(value)


def _path_problem(rel: str) -> str:
    """Why rel cannot be a file of the folder ("" when it can)."""
    if rel == "":
        return "has an empty path"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in rel):
        return "has a NUL or another control character in its path"
    if rel.startswith("/"):
        return "is an absolute path: give paths relative to the candidate folder"
    if "\\" in rel:
        return "has a backslash in its path: separate folders with '/'"
    parts = rel.split("/")
    if ".." in parts:
        return "escapes the candidate folder ('..' in its path)"
    if any(p in ("", ".") for p in parts):
        return "has an empty or '.' part in its path"
    if rel == MANIFEST:
        return f"is the {MANIFEST} the import writes: give its fields as keys of the line"
    ignored = [p for p in parts if p in IGNORED or p.endswith(".pyc")]
    if ignored:
        return f"would be ignored by the scorer ({ignored[0]!r} is never part of a candidate)"
    try:
        _encodable(rel, "a path")
    except _Bad:
        return "has a lone surrogate in its path"
    if any(len(p.encode()) > 255 for p in parts):
        return "has a part longer than 255 bytes"
    return ""


def _entrypoint(value: Any, files: dict[str, str]) -> tuple[str, ...]:
    if value is None:
        scripts = sorted(rel for rel in files if rel.endswith(".py"))
        if len(scripts) == 1:
            value = ["python3", scripts[0]]
        else:
            raise _Bad("no 'entrypoint', and it cannot be told from the files"
                       f" ({'no .py file' if not scripts else f'{len(scripts)} .py files'}):"
                       ' give one, e.g. "entrypoint": ["python3", "main.py"]')
    if not (isinstance(value, list) and value and all(isinstance(x, str) and x.strip()
                                                      for x in value)):
        raise _Bad("'entrypoint' must be a non-empty list of non-empty strings"
                   ' (e.g. ["python3", "main.py"])')
    if any("\0" in x for x in value):
        raise _Bad("'entrypoint' has a NUL byte")
    for x in value:
        _encodable(x, "'entrypoint'")
    script = str(PurePosixPath(next((x for x in value[1:] if not x.startswith("-")), value[0])))
    if PurePosixPath(script).suffix in LANGUAGES and script not in files:
        raise _Bad(f"'entrypoint' runs {script!r}, which is not one of the files")
    if files.get(script) == "":
        raise _Bad(f"'entrypoint' runs {script!r}, which is empty")
    return tuple(value)


def _infer_language(files: dict[str, str]) -> str:
    found = sorted({LANGUAGES[s] for s in (PurePosixPath(r).suffix for r in files)
                    if s in LANGUAGES})
    if len(found) == 1:
        return found[0]
    raise _Bad("no 'language', and it cannot be told from the file extensions ("
               + (f"{', '.join(found)}" if found else "none is a known source extension")
               + '): give one, e.g. "language": "python"')


def _claims(value: Any) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(isinstance(c, str) for c in value)):
        raise _Bad("'claims' must be a list of capability names")
    unknown = sorted(set(value) - set(CAPABILITIES))
    if unknown:
        raise _Bad(f"unknown capabilities in 'claims': {', '.join(map(repr, unknown))}"
                   f" (known: {', '.join(CAPABILITIES)})")
    return tuple(c for c in CAPABILITIES if c in value)


def _toml(value: str | Sequence[str]) -> str:
    """A TOML basic string (or array of them); control characters as \\uXXXX escapes."""
    if not isinstance(value, str):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    body = "".join(f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F
                   else "\\" + ch if ch in '"\\' else ch for ch in value)
    return f'"{body}"'


def manifest_text(p: Prediction, source: str) -> str:
    """The candidate.toml of p; source names the predictions file (its base name)."""
    where = f"{source} line {p.line}"
    return "\n".join([
        f"name = {_toml(p.folder)}",
        f"language = {_toml(p.language)}",
        f"description = {_toml(f'Sample {p.sample} of model {p.model}, imported from {where}.')}",
        f"entrypoint = {_toml(p.entrypoint)}",
        f"claims = {_toml(p.claims)}",
        "",
        "[origin]",
        f"model = {_toml(p.model)}",
        f"sample = {_toml(p.sample)}",
        f"prompt_version = {_toml(p.prompt_version)}",
        f"source = {_toml(where)}",
        "",
    ])


def write(found: Sequence[Prediction], into: Path, source: str) -> Path:
    """Write a folder per prediction into `into` (absent or empty), all or nothing: the
    folders are filled in a temp folder beside it, loaded back as the scorer loads them,
    and renamed into place. The absolute path of `into`."""
    into = into.absolute()
    _check_target(into)
    try:
        into.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{into.name}.import-", dir=into.parent))
    except OSError as exc:
        raise UsageError(f"--into {into}: cannot create it: {exc.strerror or exc}") from None
    try:
        for p in found:
            _write_folder(tmp / p.folder, p, source)
        for p in found:
            _loads_back(tmp / p.folder, p)
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the folders from other users
        fsync_dir(tmp)
        os.rename(tmp, into)  # replaces an empty folder; fails if one appeared and filled
        fsync_dir(into.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"--into {into}: cannot write: {exc.strerror or exc}; nothing was"
                         " written") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return into


def _check_target(into: Path) -> None:
    if into.is_symlink():
        raise UsageError(f"--into {into}: is a symbolic link; give a new folder's own path")
    if not os.path.lexists(into):
        return
    if not into.is_dir():
        raise UsageError(f"--into {into}: is a file, not a folder")
    entries = sorted(e.name for e in into.iterdir())
    if entries:
        raise UsageError(f"--into {into}: is not empty ({len(entries)} entries, e.g."
                         f" {entries[0]!r}): import into a new or empty folder")


def _write_folder(folder: Path, p: Prediction, source: str) -> None:
    for rel, text in (*p.files, (MANIFEST, manifest_text(p, source))):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    for dirpath, _, _ in os.walk(folder):
        fsync_dir(Path(dirpath))


def _loads_back(folder: Path, p: Prediction) -> None:
    """Load the written folder as the scorer does; what it reads must be what p says."""
    c = load_candidate(folder)
    seen = {rel: path.read_bytes().decode("utf-8") for rel, path in candidate_files(c)}
    if (c.name, c.origin.model, c.origin.sample, c.entrypoint, c.language, seen) != \
            (p.folder, p.model, p.sample, p.entrypoint, p.language, dict(p.files)) \
            or c.claims != frozenset(p.claims):
        raise AssertionError(f"{folder}: the candidate loaded back differs from line {p.line}")
