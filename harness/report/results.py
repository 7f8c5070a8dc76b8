"""results.json: the stable, machine-read record of a scoring run.

It only serialises what the scoring layer (`harness.summary`) concluded: no score or
verdict is worked out here. Other tools read this file, so its keys are kept stable
and versioned by `schema_version` (later keys are only added). It is written
atomically (temp file next to the target, fsync, os.replace), so a reader never sees
half a file, even if the harness is killed.
"""

from __future__ import annotations

import datetime
import json
import os
import resource
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.intent import Intent
from harness.model import Candidate, CellResult, CheckResult, Outcome
from harness.outdir import fsync_dir
from harness.profiles import Profile, Profiles, ProfileScore
from harness.suites import Coverage
from harness.summary import CandidateScore, CheckVerdict, Summary, Tally, Trials, summarise
from harness.throughput import YARDSTICK

SCHEMA_VERSION = 2  # 2: profiles, intent, matrix, findings (later keys are only added)


def check_json(cell: CellResult, r: CheckResult) -> dict[str, Any]:
    return {"scenario": cell.scenario, "check": r.check, "capability": r.capability,
            "severity": r.severity.name.lower(), "outcome": r.outcome.value,
            "evidence": [e.to_json() for e in r.evidence], "detail": r.detail,
            "seed": cell.seed, "runner": cell.runner, "reproduce": cell.reproduce,
            "trial": cell.trial}


def profile_json(ps: ProfileScore, p: Profile) -> dict[str, Any]:
    return {"score": ps.score, "raw": ps.raw, "intent_weight": p.intent_weight,
            "speed_weight": p.speed_weight,
            "fatal_cap": p.fatal_cap, "capped": ps.capped,
            "caps": [{"capability": c.capability, "check": c.check, "scenario": c.scenario,
                      "reason": c.reason} for c in ps.caps]}


def tally_json(t: Tally) -> dict[str, int]:
    return {o.value: t.count(o) for o in Outcome}


def verdict_json(v: CheckVerdict) -> dict[str, Any]:
    """A check judged once over its scenarios, and the scenarios of each outcome it had."""
    return {"capability": v.capability, "severity": v.severity.name.lower(),
            "outcome": v.outcome.value,
            "scenarios": {o.value: list(v.scenarios(o)) for o in Outcome if v.scenarios(o)}}


def cell_json(cell: CellResult) -> dict[str, Any]:
    return {"scenario": cell.scenario, "seed": cell.seed, "runner": cell.runner,
            "duration_s": round(cell.duration_s, 3), "reproduce": cell.reproduce,
            "infra_error": cell.infra_error, "trial": cell.trial, **cell.extra}


def trials_json(t: Trials) -> dict[str, Any]:
    """The candidate's scores over trials: the keys results.json gives them."""
    return {
        "trials": len(t.per_trial), "score": t.mean,
        "score_interval": list(t.interval) if t.interval is not None else None,
        "per_trial": [{"trial": p.trial, "score": p.score, "execution_score": p.execution,
                       "fatal_failed": p.fatal_failed} for p in t.per_trial],
        "check_rates": {r.check: {"passed": r.passed, "failed": r.failed, "rate": r.rate}
                        for r in t.rates},
        "flaky": [{"check": f.check, "scenario": f.scenario, "passed": f.passed,
                   "failed": f.failed} for f in t.flaky]}


def candidate_json(cs: CandidateScore, profiles: Profiles) -> dict[str, Any]:
    c, intent = cs.candidate, cs.intent.intent
    return {
        "name": c.name, "language": c.language, "description": c.description,
        "path": str(c.path), "claims": sorted(c.claims),
        "origin": c.origin.as_json(),
        "findings": [{"defect": f.defect, "review": f.review, "checks": list(f.checks)}
                     for f in c.origin.findings],
        **trials_json(cs.trials), "headline_profile": cs.headline,
        "execution_score": cs.execution, "intent_score": cs.intent.credited,
        "profiles": {p.name: profile_json(cs.profile(p.name), p) for p in profiles.profiles},
        "intent": {"language_known": intent.language_known, "signalled": cs.intent.signalled,
                   "withheld": cs.intent.withheld,
                   "signals": {cap: [h.to_json() for h in intent.signals(cap)]
                               for cap in sorted({h.capability for h in intent.hits})}},
        "matrix": {m.capability: {"state": m.state.value, "claimed": m.claimed,
                                  "intent": m.intent, "passed": list(m.passed),
                                  "failed": list(m.failed)} for m in cs.matrix},
        "tally": tally_json(cs.tally),
        "verdicts": {v.check: verdict_json(v) for v in cs.verdicts},
        "checks": [check_json(cell, r) for cell in cs.cells for r in cell.results],
        "cells": [cell_json(cell) for cell in cs.cells],
        "throughput": cs.throughput.to_json() if cs.throughput is not None else None,
    }


def yardstick_json(summary: Summary) -> dict[str, Any]:
    """Whose throughput the ratios divide by, whether it is a scored candidate or a cell
    of its own, and its figures (each ratio 1)."""
    own = summary.yardstick.to_json() if summary.yardstick is not None else {}
    own.pop("yardstick", None)
    return {"candidate": summary.yardstick_name, "scored": summary.yardstick_scored, **own}


def harness_json() -> dict[str, Any]:
    """Facts about the harness process itself: its peak memory so far (ru_maxrss is in
    KiB on Linux), so that a candidate driving it to hold too much shows here."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak_kib / 1024, 1)}


def document(summary: Summary, *, seed: int, runner: Mapping[str, Any],
             scenarios: Sequence[str], stopped: str = "",
             executor: Mapping[str, Any] | None = None,
             coverage: Coverage | None = None) -> dict[str, Any]:
    """The results document of a summarised run; `stopped` says why a run ended before
    its last cell (its finished cells are all it holds, and "complete" is false),
    `executor` what ran the cells (Executor.describe(): its name and worker count), and
    `coverage` which scenarios it judged of all it could have (all of `scenarios` when
    not given)."""
    profiles = summary.profiles
    coverage = coverage or Coverage(tuple(scenarios), tuple(scenarios))
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "complete": not stopped, **({"stopped": stopped} if stopped else {}),
        "seed": seed, "trials": summary.trials, "runner": dict(runner),
        **({"executor": dict(executor)} if executor is not None else {}),
        "scenarios": list(scenarios), "coverage": coverage.to_json(),
        "harness": harness_json(),
        "headline_profile": summary.headline,
        "profiles": {p.name: {"intent_weight": p.intent_weight, "fatal_cap": p.fatal_cap,
                              "speed_weight": p.speed_weight, "description": p.description}
                     for p in profiles.profiles},
        "core_capabilities": sorted(profiles.core),
        "candidates": {cs.name: candidate_json(cs, profiles) for cs in summary.candidates},
        "yardstick": yardstick_json(summary),
    }


def build(candidates: Sequence[Candidate], cells: Sequence[CellResult], *, seed: int,
          runner: Mapping[str, Any], scenarios: Sequence[str], intents: Mapping[str, Intent],
          profiles: Profiles, headline: str, stopped: str = "",
          executor: Mapping[str, Any] | None = None, trials: int = 1,
          yardstick: str = YARDSTICK, coverage: Coverage | None = None) -> dict[str, Any]:
    """The results document: the run summarised by the scoring layer, then serialised."""
    return document(summarise(candidates, cells, intents, profiles, headline, trials, yardstick),
                    seed=seed, runner=runner, scenarios=scenarios, stopped=stopped,
                    executor=executor, coverage=coverage)


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
    fsync_dir(path.parent)


def write_results(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode())
