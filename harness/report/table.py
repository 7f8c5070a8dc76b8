"""results.csv: one row per check result (candidate x scenario x check), for notebooks.

Written as `frame(doc).to_csv(index=False)` writes it (pandas infers each column's
type), so the columns and their types are the ones `pandas.read_csv` gives back; the
bytes come from the csv module by pandas' rules (`to_bytes`), because importing pandas
took a third of a second of every `harness score`, and `frame` builds the DataFrame
itself for whoever wants one (tests/unit/test_summary.py holds the two to the same
bytes). Candidate-level scores are repeated on each row, so a single groupby answers most
questions; the first piece of evidence is flattened into columns, the rest counted.
With trials, each row says its trial; `score` is the mean over the candidate's trials and
score_lo/score_hi its 95 % interval (empty with one trial). The throughput figures are
candidate-level too, beside the scores and never in them: steps_per_s and
status_events_per_s with their ratios to the run's yardstick (empty where there is no
figure, or no throughput cell ran). `model` is the candidate's origin.model (empty when
its manifest names none), and `partial` is True on every row of a run that judged fewer
scenarios than its folder holds (--suite, --scenario).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.suites import coverage_of

COLUMNS = ["candidate", "scenario", "check", "capability", "severity", "outcome", "seed",
           "runner", "score", "headline_profile", "execution_score", "intent_score",
           "expected", "seen", "where", "evidence_count", "reproduce", "trial", "trials",
           "score_lo", "score_hi", "steps_per_s", "steps_ratio", "status_events_per_s",
           "status_ratio", "model", "partial"]


if TYPE_CHECKING:
    import pandas as pd


def pandas_module() -> Any:
    """pandas, imported when a table is first built (here and in compare_files): half a
    second that every harness command would otherwise pay at start."""
    import pandas

    return pandas


def speed_columns(cand: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate's throughput figures and ratios, as the CSV's columns name them."""
    t = cand.get("throughput") or {}
    steps, status = t.get("steps_per_s") or {}, t.get("status_events_per_s") or {}
    return {"steps_per_s": steps.get("value"), "steps_ratio": steps.get("ratio"),
            "status_events_per_s": status.get("value"), "status_ratio": status.get("ratio")}


def rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per check result, the values as the results document holds them."""
    out = []
    partial = coverage_of(doc).partial
    for name, cand in doc["candidates"].items():
        lo_hi = cand.get("score_interval") or (None, None)
        speed = speed_columns(cand)
        for chk in cand["checks"]:
            ev = chk["evidence"][0] if chk["evidence"] else {}
            out.append({
                "candidate": name, "scenario": chk["scenario"], "check": chk["check"],
                "capability": chk["capability"], "severity": chk["severity"],
                "outcome": chk["outcome"], "seed": chk.get("seed", doc["seed"]),
                "runner": chk.get("runner", ""), "score": cand.get("score"),
                "headline_profile": doc["headline_profile"],
                "execution_score": cand.get("execution_score"),
                "intent_score": cand.get("intent_score"), "expected": ev.get("expected", ""),
                "seen": ev.get("seen", ""), "where": ev.get("where", ""),
                "evidence_count": len(chk["evidence"]), "reproduce": chk["reproduce"],
                "trial": chk.get("trial", 0), "trials": cand.get("trials", doc.get("trials", 1)),
                "score_lo": lo_hi[0], "score_hi": lo_hi[1], **speed,
                "model": (cand.get("origin") or {}).get("model", ""), "partial": partial})
    return out


def frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    return pandas_module().DataFrame(rows(doc), columns=COLUMNS)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _column(values: list[Any]) -> list[str]:
    """A column's cells as pandas writes the column it infers: all numbers and no
    None/NaN, some float -> float64; all whole numbers -> int64; numbers with None ->
    float64, None written empty; anything else -> object: None empty, the rest str()."""
    present = [v for v in values if v is not None]
    if present and all(_number(v) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in values):
            return [str(v) for v in values]
        return ["" if v is None or v != v else repr(float(v)) for v in values]
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


def to_bytes(doc: Mapping[str, Any]) -> bytes:
    found = rows(doc)
    cells = [_column([r[c] for r in found]) for c in COLUMNS]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    out.writerow(COLUMNS)
    out.writerows(zip(*cells, strict=True) if found else [])
    return buf.getvalue().encode()
