"""Loading a candidate folder and its candidate.toml, with errors that name the file.

A candidate is named either by a folder under candidates/ or by a path. Its manifest
is validated at this boundary: every problem is a `ManifestError` naming the file and
the key, never a traceback, and nothing in the folder is written.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ManifestError, UsageError
from harness.model import CAPABILITIES, Candidate, DockerSpec, Finding, MutantSpec, Origin
from harness.safefs import CellFiles, Unsafe
from harness.tomlfile import parse_toml

MANIFEST = "candidate.toml"
MANIFEST_CAP = 1 << 20  # bytes: a manifest is a few lines


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's candidate.toml, read beneath the folder as the harness reads any file
    of a candidate (a pull request can put one in CI): never through a link, never from
    a FIFO or device, never more than MANIFEST_CAP bytes."""
    path = folder / MANIFEST
    try:
        data = CellFiles(folder).read_strict(MANIFEST, MANIFEST_CAP)
    except Unsafe as exc:
        raise ManifestError(f"{folder}: {exc}") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read as TOML: {exc.strerror or exc}") from None
    if data is None:
        raise ManifestError(f"{folder}: no {MANIFEST} in this folder")
    return parse_toml(data, path, ManifestError)


def _str(data: dict[str, Any], key: str, path: Path, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ManifestError(f"{path}: '{key}' must be a non-empty string")
    return value


def load_candidate(folder: Path, depth: int = 0) -> Candidate:
    path = folder / MANIFEST
    data = _read_manifest(folder)
    entry = data.get("entrypoint")
    if not (isinstance(entry, list) and entry and all(isinstance(x, str) and x for x in entry)):
        raise ManifestError(f"{path}: 'entrypoint' must be a non-empty list of strings")
    claims = data.get("claims", [])
    if not (isinstance(claims, list) and all(isinstance(c, str) for c in claims)):
        raise ManifestError(f"{path}: 'claims' must be a list of capability names")
    unknown = sorted(set(claims) - set(CAPABILITIES))
    if unknown:
        raise ManifestError(f"{path}: unknown capabilities in 'claims': {', '.join(unknown)}"
                            f" (known: {', '.join(CAPABILITIES)})")
    return Candidate(
        docker=_docker(data, folder, path),
        name=_str(data, "name", path),
        language=_str(data, "language", path),
        description=_str(data, "description", path, ""),
        entrypoint=tuple(entry),
        claims=frozenset(claims),
        path=folder.resolve(),
        origin=_origin(data, path),
        extends=_extends(data, folder, path, depth),
        mutant=_mutant(data, path),
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and x for x in value)


def _origin(data: dict[str, Any], path: Path) -> Origin:
    origin = data.get("origin", {})
    if not isinstance(origin, dict):
        raise ManifestError(f"{path}: '[origin]' must be a table")
    findings = origin.get("findings", [])
    if not (isinstance(findings, list) and all(isinstance(f, dict) for f in findings)):
        raise ManifestError(f"{path}: 'origin.findings' must be an array of tables")
    found = []
    for i, f in enumerate(findings):
        where = f"{path}: origin.findings[{i}]"
        if not (isinstance(f.get("defect"), str) and isinstance(f.get("review"), str)
                and _strings(f.get("checks"))):
            raise ManifestError(f"{where} needs 'defect' and 'review' (strings) and 'checks'"
                                " (a list of check names)")
        found.append(Finding(f["defect"], f["review"], tuple(f["checks"])))
    known = ("model", "prompt_version", "date", "notes", "sample")
    fields = {k: _scalar(origin.get(k, ""), f"{path}: origin.{k}") for k in known}
    extra = tuple(sorted((k, _scalar(v, f"{path}: origin.{k}")) for k, v in origin.items()
                         if k not in (*known, "findings")))
    return Origin(**fields, findings=tuple(found), extra=extra)


def _scalar(value: Any, where: str) -> str:
    """An origin value as text: a string, a number, a boolean or a TOML date (a table or
    a list is an error, since groups and reports compare these as text)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float | datetime.date | datetime.time):
        return value.isoformat() if isinstance(value, datetime.date | datetime.time) else str(value)
    raise ManifestError(f"{where} must be a string, a number, a boolean or a date, not"
                        f" {type(value).__name__}")


def _extends(data: dict[str, Any], folder: Path, path: Path, depth: int) -> tuple[Path, ...]:
    """The folders this candidate's files lie over, base first (followed through theirs)."""
    rel = data.get("extends")
    if rel is None:
        return ()
    if not isinstance(rel, str) or not rel.strip():
        raise ManifestError(f"{path}: 'extends' must be a path to a candidate folder")
    target = (folder / rel).resolve()
    if not (target / MANIFEST).is_file():
        raise ManifestError(f"{path}: 'extends' = {rel!r} is not a candidate folder"
                            f" (no {MANIFEST} in {target})")
    if depth >= 4:
        raise ManifestError(f"{path}: 'extends' goes more than 4 folders deep (a cycle?)")
    base = load_candidate(target, depth + 1)
    return (*base.extends, base.path)


def _mutant(data: dict[str, Any], path: Path) -> MutantSpec | None:
    table = data.get("mutant")
    if table is None:
        return None
    if not (isinstance(table, dict) and isinstance(table.get("defect"), str)
            and isinstance(table.get("scenario"), str) and _strings(table.get("checks"))
            and table["checks"]):
        raise ManifestError(f"{path}: '[mutant]' needs 'defect' and 'scenario' (strings) and"
                            " 'checks' (a non-empty list of the check names that must catch it)")
    return MutantSpec(table["defect"], table["scenario"], tuple(table["checks"]))


def _docker(data: dict[str, Any], folder: Path, path: Path) -> DockerSpec:
    table = data.get("docker", {})
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: '[docker]' must be a table")
    unknown = sorted(set(table) - {"image", "dockerfile", "workdir"})
    if unknown:
        raise ManifestError(f"{path}: unknown keys in '[docker]': {', '.join(unknown)}"
                            " (known: image, dockerfile, workdir)")
    for key in ("image", "dockerfile", "workdir"):
        if key in table and not (isinstance(table[key], str) and table[key].strip()):
            raise ManifestError(f"{path}: 'docker.{key}' must be a non-empty string")
    spec = DockerSpec(image=table.get("image", ""), dockerfile=table.get("dockerfile", ""),
                      workdir=table.get("workdir", "/candidate"))
    if spec.image and spec.dockerfile:
        raise ManifestError(f"{path}: give 'docker.image' or 'docker.dockerfile', not both")
    if spec.dockerfile:
        target = (folder / spec.dockerfile).resolve()
        if not target.is_relative_to(folder.resolve()) or not target.is_file():
            raise ManifestError(f"{path}: 'docker.dockerfile' = {spec.dockerfile!r} is not a"
                                " file inside the candidate folder")
    if not spec.workdir.startswith("/"):
        raise ManifestError(f"{path}: 'docker.workdir' must be an absolute path in the image")
    return spec


def _candidate_folders(folder: Path) -> list[Path]:
    """folder itself if it is a candidate folder, else the candidate folders directly in
    it (sorted; `harness import` writes one such folder of folders)."""
    if (folder / MANIFEST).is_file():
        return [folder]
    try:
        inside = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and (p / MANIFEST).is_file())
    except OSError as exc:
        raise ManifestError(f"{folder}: cannot be listed: {exc.strerror or exc}") from None
    if not inside:
        raise ManifestError(f"{folder}: no {MANIFEST} in this folder, nor in any folder"
                            " directly inside it: not a candidate folder or a folder of them")
    return inside


def resolve_candidates(names: list[str], root: Path,
                       note: Callable[[str], None] | None = None) -> list[Candidate]:
    """Candidates by name under root/candidates, or by path; none named means all. A
    folder without a candidate.toml whose subfolders have one stands for those.

    A folder named twice (by name and by path, say) is one candidate, scored once, and
    note() says so; two folders whose manifests give one name are a ManifestError."""
    base = root / "candidates"
    if not names:
        if not base.is_dir():
            raise UsageError(f"{base}: no candidates folder")
        folders = sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())
        return [load_candidate(p) for p in folders]
    found: list[Candidate] = []
    for name in names:
        as_path = Path(name)
        folder = as_path if as_path.is_dir() else base / name
        if not folder.is_dir():
            raise ManifestError(f"{name}: no such candidate (neither a folder nor a name under"
                                f" {base})")
        found.extend(load_candidate(f) for f in _candidate_folders(folder))
    seen: dict[str, Path] = {}
    unique = []
    for c in found:
        if c.name in seen and seen[c.name].resolve() == c.path.resolve():
            if note:
                note(f"{c.name} ({c.path}) was named more than once: it is scored once")
            continue
        if c.name in seen:
            raise ManifestError(f"{c.path / MANIFEST}: name {c.name!r} is also used by"
                                f" {seen[c.name]}")
        seen[c.name] = c.path
        unique.append(c)
    return unique
