"""`harness report`: index.html, results.csv and junit.xml from a results.json.

Each file is written atomically beside the others, so a reader (a CI step, a browser
with the report open) never sees half of one. The inputs are only read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.replay import save_states
from harness.report import html, junit, table, view
from harness.report.baseline import diff
from harness.report.results import write_atomic


@dataclass(frozen=True, slots=True)
class Written:
    html: Path
    csv: Path
    junit: Path


def write_report(doc: Mapping[str, Any], out: Path, baseline: Mapping[str, Any] | None = None,
                 baseline_name: str = "") -> Written:
    doc = save_states(doc, out)  # each first failing crash state, and its replay command
    d = diff(doc, baseline) if baseline is not None else None
    report = view.build(doc, d, baseline_name, str((baseline or {}).get("created", "")))
    paths = Written(out / "index.html", out / "results.csv", out / "junit.xml")
    files = ((paths.html, html.render(report).encode()), (paths.csv, table.to_bytes(doc)),
             (paths.junit, junit.to_bytes(doc)))
    for path, data in files:
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return paths
