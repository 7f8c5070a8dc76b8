"""A candidate's files, as the engine sees them: its own folder over the one it extends.

A candidate may say `extends = "../reference"` in its manifest: its files are then laid
over that folder's files (its own win). Mutants use this to reuse the reference and
change one module. Every consumer of a candidate's files goes through here, so the
local runner, the Docker image and the design-intent scan all see the same tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.manifest import MANIFEST
from harness.model import Candidate

IGNORED = {"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache", MANIFEST}


def _walk(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        for name in sorted(filenames):
            if name not in IGNORED and not name.endswith(".pyc"):
                path = Path(dirpath) / name
                found[path.relative_to(folder).as_posix()] = path
    return found


def candidate_files(c: Candidate) -> list[tuple[str, Path]]:
    """(path relative to the tree's root, file on disk), sorted, the manifest left out."""
    merged: dict[str, Path] = {}
    for folder in (*c.extends, c.path):
        merged.update(_walk(folder))
    return sorted(merged.items())


def materialize(c: Candidate, target: Path) -> Path:
    """The merged tree copied to target (for candidates that extend another folder)."""
    for rel, path in candidate_files(c):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest, follow_symlinks=False)
    return target
