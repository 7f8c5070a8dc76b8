"""Loading a candidate folder and its candidate.toml, with errors that name the file.

A candidate is named either by a folder under candidates/ or by a path. Its manifest
is validated at this boundary: every problem is a `ManifestError` naming the file and
the key, never a traceback, and nothing in the folder is written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.errors import ManifestError, UsageError
from harness.model import CAPABILITIES, Candidate, DockerSpec, Origin

MANIFEST = "candidate.toml"


def _str(data: dict[str, Any], key: str, path: Path, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ManifestError(f"{path}: '{key}' must be a non-empty string")
    return value


def load_candidate(folder: Path) -> Candidate:
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{folder}: no {MANIFEST} in this folder") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read as TOML: {exc}") from None
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
    origin = data.get("origin", {})
    if not isinstance(origin, dict):
        raise ManifestError(f"{path}: '[origin]' must be a table")
    return Candidate(
        docker=_docker(data, folder, path),
        name=_str(data, "name", path),
        language=_str(data, "language", path),
        description=_str(data, "description", path, ""),
        entrypoint=tuple(entry),
        claims=frozenset(claims),
        path=folder.resolve(),
        origin=Origin(**{k: str(origin.get(k, "")) for k in Origin.__slots__}),
    )


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


def resolve_candidates(names: list[str], root: Path) -> list[Candidate]:
    """Candidates by name under root/candidates, or by path; none named means all."""
    base = root / "candidates"
    if not names:
        if not base.is_dir():
            raise UsageError(f"{base}: no candidates folder")
        folders = sorted(p for p in base.iterdir() if (p / MANIFEST).is_file())
        return [load_candidate(p) for p in folders]
    found = []
    for name in names:
        as_path = Path(name)
        folder = as_path if as_path.is_dir() else base / name
        if not folder.is_dir():
            raise ManifestError(f"{name}: no such candidate (neither a folder nor a name under"
                                f" {base})")
        found.append(load_candidate(folder))
    seen: dict[str, Path] = {}
    for c in found:
        if c.name in seen and seen[c.name] != c.path:
            raise ManifestError(f"{c.path / MANIFEST}: name {c.name!r} is also used by"
                                f" {seen[c.name]}")
        seen[c.name] = c.path
    return found
