"""Reading a results.json back: validation with clear errors, and per-check verdicts.

`harness report` takes files a user names (a run's results and a baseline), so a file
that is missing, not JSON, from another schema or missing a key gets a `ReportInputError`
naming the file and the problem, never a traceback. Only what the report reads is
checked; extra keys are allowed so that newer writers stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ReportInputError
from harness.model import Outcome
from harness.report.results import SCHEMA_VERSION
from harness.scoring import verdict

CANDIDATE_KEYS = ("name", "score", "execution_score", "intent_score", "profiles", "matrix",
                  "checks", "cells", "tally", "intent", "findings", "claims")
OUTCOMES = {o.value for o in Outcome}
CHECK_KEYS = ("scenario", "check", "capability", "severity", "outcome", "evidence", "reproduce")


def _need(where: str, obj: object, keys: Iterable[str], kind: type = dict) -> None:
    if not isinstance(obj, kind):
        raise ReportInputError(f"{where}: expected {'an object' if kind is dict else 'a list'}")
    if isinstance(obj, dict):
        missing = [k for k in keys if k not in obj]
        if missing:
            raise ReportInputError(f"{where}: missing {', '.join(missing)}")


def validate(doc: object, name: str) -> dict[str, Any]:
    """doc if it is a results.json the report can read; else ReportInputError."""
    _need(name, doc, ("schema_version",))
    assert isinstance(doc, dict)
    version = doc["schema_version"]
    if version != SCHEMA_VERSION:
        raise ReportInputError(f"{name}: schema_version {version!r}; this harness reads"
                               f" {SCHEMA_VERSION} (score again with this version)")
    _need(name, doc, ("seed", "runner", "scenarios", "headline_profile", "profiles",
                      "candidates"))
    _need(f"{name}: profiles", doc["profiles"], ())
    _need(f"{name}: candidates", doc["candidates"], ())
    for cname, cand in doc["candidates"].items():
        where = f"{name}: candidates.{cname}"
        _need(where, cand, CANDIDATE_KEYS)
        _need(f"{where}.checks", cand["checks"], (), list)
        _need(f"{where}.cells", cand["cells"], (), list)
        for i, chk in enumerate(cand["checks"]):
            _need(f"{where}.checks[{i}]", chk, CHECK_KEYS)
            _need(f"{where}.checks[{i}].evidence", chk["evidence"], (), list)
            if chk["outcome"] not in OUTCOMES:
                raise ReportInputError(f"{where}.checks[{i}].outcome: {chk['outcome']!r} is not"
                                       f" one of {', '.join(sorted(OUTCOMES))}")
        for i, cell in enumerate(cand["cells"]):
            _need(f"{where}.cells[{i}]", cell, ("scenario", "seed", "runner", "reproduce"))
        for p in doc["profiles"]:
            _need(f"{where}.profiles", cand["profiles"], (p,))
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
