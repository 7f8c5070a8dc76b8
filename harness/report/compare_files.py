"""What `harness compare` writes: compare.html, groups.csv, pairs.csv and compare.json.

compare.json holds everything the page shows, unrounded; the CSVs are built with pandas
(one row per group, one per pair) so that `pandas.read_csv` gives the columns back with
their types. Every file is rendered before the first is written, and each is written
atomically, so a failure leaves no half-written file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError
from harness.groups import Comparison, Group, Pair, Rate
from harness.report import compare_view
from harness.report.compare_inputs import Run
from harness.report.results import write_atomic
from harness.report.table import pandas_module

FILES = ("compare.html", "groups.csv", "pairs.csv", "compare.json")


if TYPE_CHECKING:
    import pandas as pd


def _rate(r: Rate) -> dict[str, Any]:
    return {"passed": r.passed, "failed": r.failed, "rate": r.rate,
            "interval": list(r.interval) if r.interval else None}


def group_json(g: Group, runs: Sequence[Run], out: Path) -> dict[str, Any]:
    return {
        "group": g.name, "keyed": g.keyed, "n": g.n, "n_scored": len(g.scores), "mean": g.mean,
        "interval": list(g.interval) if g.interval else None,
        "pass_at_k": {"scores_10": list(g.pass_10), "no_fatal": list(g.pass_no_fatal)},
        "capabilities": {cap: _rate(r) for cap, r in g.capabilities},
        "checks": {check: _rate(r) for check, r in g.checks},
        "members": [{"candidate": m.name, "run": str(runs[m.run].path), "score": m.score,
                     "trials": m.trials, "scores_10": m.scores_10, "no_fatal": m.no_fatal,
                     "evidence": compare_view.evidence_href(runs[m.run], m.name, out) or None}
                    for m in g.members],
    }


def pair_json(p: Pair) -> dict[str, Any]:
    return {"a": p.a, "b": p.b, "n_a": p.n_a, "n_b": p.n_b, "diff": p.diff,
            "interval": list(p.interval) if p.interval else None, "p": p.p,
            "verdict": p.verdict,
            "separating": [{"check": s.check, "rate_a": s.rate_a, "rate_b": s.rate_b,
                            "diff": s.diff} for s in p.separating]}


def document(cmp: Comparison, runs: Sequence[Run], out: Path,
             warnings: Sequence[str]) -> dict[str, Any]:
    return {
        "group_by": cmp.key, "seed": cmp.seed, "confidence": 0.95,
        "runs": [{"results": str(r.path), "harness_version": r.doc.get("harness_version"),
                  "created": r.doc.get("created"), "complete": r.doc.get("complete", True),
                  "trials": r.doc.get("trials", 1), "scenarios": r.doc["scenarios"]}
                 for r in runs],
        "warnings": list(warnings),
        "groups": [group_json(g, runs, out) for g in cmp.groups],
        "pairs": [pair_json(p) for p in cmp.pairs],
    }


def groups_frame(cmp: Comparison) -> pd.DataFrame:
    kmax = max((g.n for g in cmp.groups), default=0)
    caps = [row.capability for row in compare_view.heatmap(cmp.groups)]
    rows = []
    for g in cmp.groups:
        rates = dict(g.capabilities)
        rows.append({
            "group": g.name, "keyed": g.keyed, "n": g.n, "n_scored": len(g.scores),
            "mean": g.mean, "ci_lo": g.interval[0] if g.interval else None,
            "ci_hi": g.interval[1] if g.interval else None,
            **{f"pass10@{k}": g.pass_10[k - 1] if k <= g.n else None for k in range(1, kmax + 1)},
            **{f"nofatal@{k}": g.pass_no_fatal[k - 1] if k <= g.n else None
               for k in range(1, kmax + 1)},
            **{f"rate:{cap}": rates[cap].rate if cap in rates else None for cap in caps},
        })
    return pandas_module().DataFrame(rows)


def pairs_frame(cmp: Comparison) -> pd.DataFrame:
    return pandas_module().DataFrame(
        [{"a": p.a, "b": p.b, "n_a": p.n_a, "n_b": p.n_b, "diff": p.diff,
          "ci_lo": p.interval[0] if p.interval else None,
          "ci_hi": p.interval[1] if p.interval else None, "p": p.p, "verdict": p.verdict,
          "separating": "; ".join(f"{s.check} {s.rate_a:.3f} vs {s.rate_b:.3f}"
                                  for s in p.separating)} for p in cmp.pairs],
        columns=["a", "b", "n_a", "n_b", "diff", "ci_lo", "ci_hi", "p", "verdict", "separating"])


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@dataclass(frozen=True, slots=True)
class Written:
    folder: Path
    names: tuple[str, ...]


def write(cmp: Comparison, runs: Sequence[Run], out: Path, warnings: Sequence[str]) -> Written:
    """Render every file, then write each atomically into out."""
    page = compare_view.build(cmp, runs, out, warnings)
    data = (compare_view.render(page).encode(), _csv(groups_frame(cmp)), _csv(pairs_frame(cmp)),
            (json.dumps(document(cmp, runs, out, warnings), indent=2) + "\n").encode())
    for name, blob in zip(FILES, data, strict=True):
        try:
            write_atomic(out / name, blob)
        except OSError as exc:
            raise UsageError(f"cannot write {out / name}: {exc.strerror or exc}") from None
    return Written(out, FILES)
