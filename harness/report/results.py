"""results.json: the stable, machine-read record of a scoring run.

Other tools read this file, so its keys are kept stable and versioned by
`schema_version`. It is written atomically (temp file next to the target, fsync,
os.replace), so a reader never sees half a file, even if the harness is killed.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.intent import Intent, credited, matrix
from harness.model import Candidate, CellResult, CheckResult
from harness.profiles import Profiles, score_all
from harness.scoring import execution_score, tally

SCHEMA_VERSION = 2  # 2: profiles, intent, matrix, findings (later keys are only added)


def check_json(cell: CellResult, r: CheckResult) -> dict[str, Any]:
    return {"scenario": cell.scenario, "check": r.check, "capability": r.capability,
            "severity": r.severity.name.lower(), "outcome": r.outcome.value,
            "evidence": [e.to_json() for e in r.evidence], "detail": r.detail,
            "seed": cell.seed, "runner": cell.runner, "reproduce": cell.reproduce}


def candidate_json(c: Candidate, cells: Sequence[CellResult], intent: Intent,
                   profiles: Profiles, headline: str) -> dict[str, Any]:
    pairs = [(cell.scenario, r) for cell in cells for r in cell.results]
    results = [r for _, r in pairs]
    execution = execution_score(results)
    intent_score, withheld = credited(intent, [int(cell.extra["steps_succeeded"])
                                               for cell in cells
                                               if "steps_succeeded" in cell.extra])
    scores = score_all(profiles, execution, intent_score, pairs, c.claims)
    cells_by_cap = matrix(c.claims, intent, pairs)
    return {
        "name": c.name, "language": c.language, "description": c.description,
        "path": str(c.path), "claims": sorted(c.claims),
        "origin": {k: getattr(c.origin, k) for k in c.origin.__slots__ if k != "findings"},
        "findings": [{"defect": f.defect, "review": f.review, "checks": list(f.checks)}
                     for f in c.origin.findings],
        "score": scores[headline].score, "headline_profile": headline,
        "execution_score": execution, "intent_score": intent_score,
        "profiles": {p.name: scores[p.name].to_json(p) for p in profiles.profiles},
        "intent": {"language_known": intent.language_known, "signalled": intent.score,
                   "withheld": withheld,
                   "signals": {cap: [h.to_json() for h in intent.signals(cap)]
                               for cap in sorted({h.capability for h in intent.hits})}},
        "matrix": {m.capability: {"state": m.state.value, "claimed": m.claimed,
                                  "intent": m.intent, "passed": list(m.passed),
                                  "failed": list(m.failed)} for m in cells_by_cap},
        "tally": tally(results),
        "checks": [check_json(cell, r) for cell in cells for r in cell.results],
        "cells": [{"scenario": cell.scenario, "seed": cell.seed, "runner": cell.runner,
                   "duration_s": round(cell.duration_s, 3), "reproduce": cell.reproduce,
                   "infra_error": cell.infra_error, **cell.extra} for cell in cells],
    }


def harness_json() -> dict[str, Any]:
    """Facts about the harness process itself: its peak memory so far (ru_maxrss is in
    KiB on Linux), so that a candidate driving it to hold too much shows here."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak_kib / 1024, 1)}


def build(candidates: Sequence[Candidate], cells: Sequence[CellResult], *, seed: int,
          runner: dict[str, str], scenarios: Sequence[str], intents: dict[str, Intent],
          profiles: Profiles, headline: str, stopped: str = "") -> dict[str, Any]:
    """The results document; `stopped` says why a run ended before its last cell (its
    finished cells are all it holds, and "complete" is false)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "complete": not stopped, **({"stopped": stopped} if stopped else {}),
        "seed": seed, "runner": runner, "scenarios": list(scenarios),
        "harness": harness_json(),
        "headline_profile": headline,
        "profiles": {p.name: {"intent_weight": p.intent_weight, "fatal_cap": p.fatal_cap,
                              "description": p.description} for p in profiles.profiles},
        "core_capabilities": sorted(profiles.core),
        "candidates": {c.name: candidate_json(c, [x for x in cells if x.candidate == c.name],
                                              intents[c.name], profiles, headline)
                       for c in candidates},
    }


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide a shared report
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_results(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode())
