"""Reading the harness's TOML inputs (manifests, scenarios, scoring data) with one error rule.

A file that cannot be read or parsed raises the caller's own error class, naming the
file and what is wrong, so each loader's errors keep their exit code and wording.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def parse_toml(data: bytes, path: Path, error: type[HarnessError]) -> dict[str, Any]:
    """The document in `data`, read from path; `error("PATH: cannot be read as TOML: WHY")`."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{path}: cannot be read as TOML: {exc}") from None


def read_toml(path: Path, error: type[HarnessError], *, missing: str = "") -> dict[str, Any]:
    """The document in path; `error(missing)` when the file does not exist and missing is
    given, else `error("PATH: cannot be read as TOML: WHY")`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise error(missing or f"{path}: cannot be read as TOML: {exc}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read as TOML: {exc}") from None
    return parse_toml(data, path, error)
