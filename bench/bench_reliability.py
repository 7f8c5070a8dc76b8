"""Does parallelism change a verdict? Two measurements behind the default of --jobs.

`reference`: score the reference RUNS times at --jobs N (each run a fresh output folder,
seed 1, every scenario) and count the runs in which it scored 10.0, naming every check
that failed or was not exercised in any run.

`mutants-resume`: score every mutant on every scenario at --jobs N without a stop, then
again into a second folder killed with SIGKILL at a seeded moment and continued with
--resume. Shows: no cell committed before the kill ran again (its row, run id and
result are unchanged), the resumed run's per-check outcomes against the uninterrupted
run's, and whether every mutant is caught (each aimed check fails in its scenario) in
both.

    python bench/bench_reliability.py reference --runs 20 --jobs 2 --runner docker [--json F]
    python bench/bench_reliability.py mutants-resume --jobs 2 --runner docker --kill-after 60
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(Path(sys.executable).parent / "harness")


def score_argv(candidates: list[str], out: Path, runner: str, jobs: int, *extra: str) -> list[str]:
    return [HARNESS, "score", *candidates, "--runner", runner, "--jobs", str(jobs),
            "--out", str(out), *extra]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}")
    return done


def reference(args: argparse.Namespace) -> dict[str, Any]:
    scores: list[float | None] = []
    failed: Counter[str] = Counter()
    unexercised: Counter[str] = Counter()
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-rel-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"r{i}"
            t0 = time.monotonic()
            run(score_argv(["reference"], out, args.runner, args.jobs))
            walls.append(time.monotonic() - t0)
            c = json.loads((out / "results.json").read_text())["candidates"]["reference"]
            scores.append(c["execution_score"])
            for x in c["checks"]:
                if x["outcome"] == "fail":
                    failed[f"{x['scenario']}:{x['check']}"] += 1
                elif x["outcome"] == "not_exercised":
                    unexercised[f"{x['scenario']}:{x['check']}"] += 1
            print(f"run {i + 1}/{args.runs}: execution {scores[-1]} ({walls[-1]:.0f} s)",
                  flush=True)
    tens = sum(1 for s in scores if s == 10.0)
    print(f"reference at --jobs {args.jobs}, {args.runner}: 10.0 in {tens}/{args.runs} runs;"
          f" failed checks {dict(failed) or 'none'}; not exercised {dict(unexercised) or 'none'}")
    return {"jobs": args.jobs, "runner": args.runner, "runs": args.runs, "tens": tens,
            "scores": scores, "failed": dict(failed), "not_exercised": dict(unexercised),
            "mean_wall_s": round(sum(walls) / len(walls), 1)}


def rows(out: Path) -> dict[tuple[Any, ...], tuple[int, str]]:
    conn = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return {tuple(r[:5]): (r[5], r[6]) for r in conn.execute(
            "SELECT candidate_digest, scenario_digest, seed, trial, runner, run_id, result"
            " FROM cells")}
    finally:
        conn.close()


def outcomes(out: Path) -> dict[tuple[str, str, str], str]:
    doc = json.loads((out / "results.json").read_text())
    return {(n, x["scenario"], x["check"]): x["outcome"]
            for n, c in doc["candidates"].items() for x in c["checks"]}


def caught(out: Path, mutants: list[Path]) -> dict[str, bool]:
    found = outcomes(out)
    verdict = {}
    for folder in mutants:
        manifest = tomllib.loads((folder / "candidate.toml").read_text())
        name, aimed = manifest["name"], manifest["mutant"]
        verdict[name] = all(found.get((name, aimed["scenario"], k)) == "fail"
                            for k in aimed["checks"])
    return verdict


def mutants_resume(args: argparse.Namespace) -> dict[str, Any]:
    mutants = sorted(p for p in (ROOT / "candidates" / "mutants").iterdir()
                     if (p / "candidate.toml").is_file())
    names = [str(p.relative_to(ROOT)) for p in mutants]
    with tempfile.TemporaryDirectory(prefix="bench-rel-") as tmp:
        whole, killed = Path(tmp) / "whole", Path(tmp) / "killed"
        t0 = time.monotonic()
        run(score_argv(names, whole, args.runner, args.jobs))
        whole_s = time.monotonic() - t0
        print(f"uninterrupted: {whole_s:.0f} s", flush=True)
        delay = random.Random(args.seed).uniform(0.3, 0.7) * whole_s \
            if args.kill_after is None else args.kill_after
        proc = subprocess.Popen(score_argv(names, killed, args.runner, args.jobs), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = rows(killed)
        print(f"killed with SIGKILL after {delay:.0f} s: {len(before)} cell(s) committed",
              flush=True)
        t0 = time.monotonic()
        resumed = run(score_argv(names, killed, args.runner, args.jobs, "--resume"))
        resume_s = time.monotonic() - t0
        after = rows(killed)
        rerun = [k for k, v in before.items() if after.get(k) != v]
        a, b = outcomes(whole), outcomes(killed)
        differ = sorted(f"{k[0]} {k[1]}:{k[2]} {a.get(k)} -> {b.get(k)}"
                        for k in set(a) | set(b) if a.get(k) != b.get(k))
        caught_whole, caught_resumed = caught(whole, mutants), caught(killed, mutants)
    said = " ".join(resumed.stderr.split())
    result = {"jobs": args.jobs, "runner": args.runner, "mutants": len(mutants),
              "cells": len(after), "uninterrupted_s": round(whole_s, 1),
              "kill_after_s": round(delay, 1), "committed_before_kill": len(before),
              "resume_s": round(resume_s, 1), "rerun_after_resume": len(rerun),
              "resume_said": said[said.find("cell(s)") - 60: said.find("to run") + 6],
              "outcomes_differ": differ,
              "caught_uninterrupted": sum(caught_whole.values()),
              "caught_resumed": sum(caught_resumed.values()),
              "survivors": sorted(n for n, ok in {**caught_whole, **caught_resumed}.items()
                                  if not (caught_whole[n] and caught_resumed[n]))}
    print(json.dumps(result, indent=2))
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("reference", "mutants-resume"):
        p = sub.add_parser(name)
        p.add_argument("--jobs", type=int, default=2)
        p.add_argument("--runner", default="auto")
        p.add_argument("--json", type=Path, default=None)
        if name == "reference":
            p.add_argument("--runs", type=int, default=20)
        else:
            p.add_argument("--seed", type=int, default=1)
            p.add_argument("--kill-after", type=float, default=None,
                           help="seconds [default: a seeded 30-70%% of the uninterrupted run]")
    args = ap.parse_args()
    result = reference(args) if args.what == "reference" else mutants_resume(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
