"""Synthetic results.json documents for the compare tests: small, valid against the
shipped schema, and carrying the keys trials add (trials, per_trial, check_rates, flaky,
score_interval, a `trial` on every check and cell), so groups and `harness compare` can
be tested without running an engine. Each check result is given as
(trial, scenario, check, capability, severity, outcome)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.stats import mean_interval

Check = tuple[int, str, str, str, str, str]
PROFILE = "default"


def _verdict(outcomes: Sequence[str]) -> str:
    return "fail" if "fail" in outcomes else "pass" if "pass" in outcomes else outcomes[0]


def candidate(name: str, trial_scores: Sequence[float | None], checks: Sequence[Check] = (),
              origin: Mapping[str, str] | None = None, profile: str = PROFILE) -> dict[str, Any]:
    """A candidate that scored trial_scores (one per trial) and ran checks."""
    scored = [s for s in trial_scores if s is not None]
    score = sum(scored) / len(scored) if scored else None
    by_check: dict[str, list[tuple[int, str]]] = {}
    for t, _, chk, _, _, outcome in checks:
        by_check.setdefault(chk, []).append((t, outcome))
    rates: dict[str, dict[str, Any]] = {}
    for chk, runs in by_check.items():
        per_trial = [_verdict([o for t2, o in runs if t2 == t]) for t in sorted({t for t, _ in runs})]
        p, f = per_trial.count("pass"), per_trial.count("fail")
        rates[chk] = {"passed": p, "failed": f, "rate": p / (p + f) if p + f else None}
    first = {c[2]: c for c in reversed(checks)}
    return {
        "name": name, "language": "python", "description": "", "path": f"/x/{name}",
        "claims": [], "origin": {"model": "", "prompt_version": "", "date": "", "notes": "",
                                 "sample": "", **(origin or {})},
        "findings": [], "score": score, "headline_profile": profile,
        "execution_score": score, "intent_score": None,
        "profiles": {profile: {"score": score, "raw": score, "intent_weight": 0.0,
                               "fatal_cap": None, "capped": False, "caps": []}},
        "intent": {"language_known": True, "signalled": [], "withheld": [], "signals": {}},
        "matrix": {}, "tally": {o: sum(c[5] == o for c in checks)
                                for o in ("pass", "fail", "infra_error", "not_exercised")},
        "verdicts": {chk: {"capability": first[chk][3], "severity": first[chk][4],
                           "outcome": _verdict([o for _, o in runs])}
                     for chk, runs in by_check.items()},
        "checks": [{"trial": t, "scenario": sc, "check": chk, "capability": cap,
                    "severity": sev, "outcome": o, "evidence": [], "detail": "", "seed": 1,
                    "runner": "local", "reproduce": "harness score ..."}
                   for t, sc, chk, cap, sev, o in checks],
        "cells": [{"trial": t, "scenario": sc, "seed": 1, "runner": "local",
                   "reproduce": "harness score ..."}
                  for t, sc in sorted({(c[0], c[1]) for c in checks})],
        "trials": len(trial_scores),
        "score_interval": list(iv) if (iv := mean_interval(scored)) else None,
        "per_trial": [{"trial": t, "score": s, "execution_score": s,
                       "fatal_failed": any(c[0] == t and c[4] == "fatal" and c[5] == "fail"
                                           for c in checks)}
                      for t, s in enumerate(trial_scores)],
        "check_rates": rates,
        "flaky": [],
    }


def document(candidates: Sequence[dict[str, Any]], *, harness_version: str = "0.1.0",
             scenarios: Sequence[str] = ("clean-run",), trials: int = 1,
             complete: bool = True, profile: str = PROFILE) -> dict[str, Any]:
    return {
        "schema_version": 2, "harness_version": harness_version,
        "created": "2024-06-12T00:00:00+00:00", "complete": complete,
        **({} if complete else {"stopped": "interrupted"}),
        "seed": 1, "runner": {"runner": "local", "why": "synthetic"},
        "scenarios": list(scenarios), "harness": {"peak_rss_mb": 1.0},
        "headline_profile": profile,
        "profiles": {profile: {"intent_weight": 0.0, "fatal_cap": None, "description": ""}},
        "core_capabilities": [], "trials": trials,
        "candidates": {c["name"]: c for c in candidates},
    }


def write(folder: Path, doc: Mapping[str, Any]) -> Path:
    """doc as folder/results.json; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc, indent=2))
    return folder
