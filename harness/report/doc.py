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
from typing import TYPE_CHECKING, Any

from harness.errors import ReportInputError
from harness.model import CheckResult, Outcome, Severity
from harness.report.results import SCHEMA_VERSION
from harness.summary import CheckVerdict, check_verdicts

if TYPE_CHECKING:
    import jsonschema.exceptions

SCHEMA = Path(__file__).resolve().parent / "results.schema.json"


@cache
def _validator() -> Any:
    import jsonschema  # only reading a results.json validates it: most commands never do

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
    import jsonschema.exceptions

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        what = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
        raise ReportInputError(f"{name}: {_path(error)}: {what}")
    for cname, cand in doc["candidates"].items():  # what a schema cannot say
        missing = [p for p in doc["profiles"] if p not in cand["profiles"]]
        if missing:
            raise ReportInputError(f"{name}: candidates.{cname}.profiles: missing"
                                   f" {', '.join(missing)}")
        _same_checks(name, cname, cand)
    return doc


def _same_checks(name: str, cname: str, cand: Mapping[str, Any]) -> None:
    """A candidate's verdicts, where written, judge exactly the checks it lists."""
    if "verdicts" not in cand:
        return
    judged, ran = set(cand["verdicts"]), {str(chk["check"]) for chk in cand["checks"]}
    if judged != ran:
        odd = sorted(judged ^ ran)[0]
        raise ReportInputError(f"{name}: candidates.{cname}.verdicts: {odd!r} is"
                               f" {'not among its checks' if odd in judged else 'not judged'}")


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


def judge(checks: Iterable[Mapping[str, Any]]) -> tuple[CheckVerdict, ...]:
    """The checks of a results.json judged again by the scoring layer: for a file written
    before results.json carried its "verdicts"."""
    return check_verdicts(
        (str(chk["scenario"]), CheckResult(str(chk["check"]), str(chk["capability"]),
                                           Severity[str(chk["severity"]).upper()],
                                           Outcome(chk["outcome"])))
        for chk in checks)


def verdicts(cand: Mapping[str, Any]) -> dict[str, str]:
    """check -> its verdict over the scenarios ("fail", "pass", "not_exercised" or
    "infra_error"), as the candidate's "verdicts" in results.json say; the once-per-check
    view the execution score takes. A file from before that key is judged again."""
    written = cand.get("verdicts")
    if isinstance(written, Mapping):
        return {str(check): str(v["outcome"]) for check, v in written.items()}
    return {v.check: v.outcome.value for v in judge(cand["checks"])}


def flaky_rates(cand: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """check -> (trials it passed in, trials it was judged in), for each check that is
    flaky in some scenario (results.json "flaky", counted by its "check_rates"); empty
    for a file from before trials."""
    rates = cand.get("check_rates") or {}
    out = {}
    for f in cand.get("flaky") or []:
        r = rates.get(str(f["check"])) or {}
        passed = int(r.get("passed", 0))
        out[str(f["check"])] = (passed, passed + int(r.get("failed", 0)))
    return out
