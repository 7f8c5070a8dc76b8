"""Reading a results.json back: validation with clear errors, and per-check verdicts.

`harness report` takes files a user names (a run's results and a baseline), so a file
that is missing, not JSON, from another schema or of the wrong shape gets a
`ReportInputError` (exit 2) naming the file, the JSON path of the first mismatch and
what was wrong, never a traceback. The shape is `results.schema.json` beside this
module (JSON Schema, shipped with the package): strict on the types of what the report
reads, open to extra keys so that newer writers stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.exceptions

from harness.errors import ReportInputError
from harness.model import Outcome
from harness.report.results import SCHEMA_VERSION
from harness.scoring import verdict

SCHEMA = Path(__file__).resolve().parent / "results.schema.json"


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema() -> dict[str, Any]:
    """The results.json schema, as shipped."""
    return dict(_validator().schema)


def _path(error: jsonschema.exceptions.ValidationError) -> str:
    """The JSON path of a mismatch, as `candidates.x.cells[0].timeline` (or `(top level)`)."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(doc: object, name: str) -> dict[str, Any]:
    """doc if it is a results.json the report can read; else ReportInputError."""
    if not isinstance(doc, dict):
        raise ReportInputError(f"{name}: expected an object")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportInputError(f"{name}: schema_version {version!r}; this harness reads"
                               f" {SCHEMA_VERSION} (score again with this version)")
    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        what = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
        raise ReportInputError(f"{name}: {_path(error)}: {what}")
    for cname, cand in doc["candidates"].items():  # what a schema cannot say: every profile
        missing = [p for p in doc["profiles"] if p not in cand["profiles"]]
        if missing:
            raise ReportInputError(f"{name}: candidates.{cname}.profiles: missing"
                                   f" {', '.join(missing)}")
    return doc


def load(path: Path) -> dict[str, Any]:
    """A results.json from disk, validated; it is only read, never changed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file (harness score writes it)") from None
    except IsADirectoryError:
        raise ReportInputError(f"{path}: is a folder; name its results.json") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ReportInputError(f"{path}: not JSON ({exc})") from None
    return validate(doc, str(path))


def verdicts(checks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """check -> its `scoring.verdict` over the scenarios in results.json ("fail", "pass",
    "not_exercised" or "infra_error"): the same once-per-check view the execution score
    takes."""
    outcomes: dict[str, list[Outcome]] = {}
    for chk in checks:
        outcomes.setdefault(str(chk["check"]), []).append(Outcome(chk["outcome"]))
    return {c: verdict(o).value for c, o in outcomes.items()}
