"""results.csv: one row per check result (candidate x scenario x check), for notebooks.

Built with pandas so the columns and their types are the ones `pandas.read_csv` gives
back. Candidate-level scores are repeated on each row, so a single groupby answers most
questions; the first piece of evidence is flattened into columns, the rest counted.
With trials, each row says its trial; `score` is the mean over the candidate's trials and
score_lo/score_hi its 95 % interval (empty with one trial).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

COLUMNS = ["candidate", "scenario", "check", "capability", "severity", "outcome", "seed",
           "runner", "score", "headline_profile", "execution_score", "intent_score",
           "expected", "seen", "where", "evidence_count", "reproduce", "trial", "trials",
           "score_lo", "score_hi"]


if TYPE_CHECKING:
    import pandas as pd


def pandas_module() -> Any:
    """pandas, imported when a table is first built (here and in compare_files): half a
    second that every harness command would otherwise pay at start."""
    import pandas

    return pandas


def frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for name, cand in doc["candidates"].items():
        lo_hi = cand.get("score_interval") or (None, None)
        for chk in cand["checks"]:
            ev = chk["evidence"][0] if chk["evidence"] else {}
            rows.append({
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
                "score_lo": lo_hi[0], "score_hi": lo_hi[1]})
    return pandas_module().DataFrame(rows, columns=COLUMNS)


def to_bytes(doc: Mapping[str, Any]) -> bytes:
    buf = io.StringIO()
    frame(doc).to_csv(buf, index=False)
    return buf.getvalue().encode()
