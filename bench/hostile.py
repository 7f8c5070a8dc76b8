"""Benchmark: what a harness does with each hostile candidate, under each runner.

Each mode (a fixture in tests/fixtures/hostile/) runs through `harness score` as a
subprocess, on a small scenario subset with a short --cell-timeout, under a hard time
limit; `tests/hostile_cases.py` runs and measures it (see there). It prints one table row
per mode x runner and writes every measurement as JSON, so a "before" and an "after"
can be set side by side.

    python bench/hostile.py [--checkout DIR] [--runner local --runner docker]
        [--mode hang --mode fifo-log ...] [--cell-timeout 20] [--hard-limit 180]
        [--json bench/hostile-after.json]

--checkout is the harness to measure (its .venv/bin/python runs it; default: this
checkout). Under the local runner only the modes that are safe without isolation run:
the armed ones (fork bomb, memory bomb, zombie flood, kill -9 -1, writes outside,
network) are never run locally, whatever --mode says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile_cases import LOCAL_SAFE, MODES, ROOT, Result, problems, run_case  # noqa: E402

COLUMNS = ("mode", "runner", "exit", "wall s", "score", "fail/infra", "cause named",
           "harness MB", "wait4 MB", "host tmp MB", "decoy", "left behind", "problems")


def row(r: Result) -> tuple[str, ...]:
    exit_ = "hung (killed)" if r.hung else str(r.exit_code) + (" +traceback" if r.traceback else "")
    score = "no results" if not r.results_written else (
        "n/a" if r.score is None else f"{r.score:.2f}")
    named = ", ".join(r.causes) or "-"
    if r.limits_hit:
        named += " | limits_hit " + ",".join(f"{k}={v}" for k, v in r.limits_hit.items())
    decoy = "-" if r.decoy_unchanged is None else (
        ("unchanged" if r.decoy_unchanged else "CHANGED")
        + (f", leaked in {'/'.join(r.decoy_leaked_in)}" if r.decoy_leaked_in else ""))
    left = [f"{len(v)} {k}" for k, v in (("containers", r.left_containers),
                                         ("dirs", r.left_dirs), ("mounts", r.left_mounts),
                                         ("procs", r.left_processes)) if v]
    return (r.mode, r.runner, exit_, f"{r.wall_s:.0f}", score,
            f"{len(r.failed)}/{len(r.infra)}", named, f"{max(r.hwm_mb, r.rss_max_mb):.0f}",
            f"{r.wait4_maxrss_mb:.0f}", f"{r.tmp_peak_mb:.0f}", decoy,
            ", ".join(left) or "none", str(len(problems(r))))


def markdown(results: list[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row(r)) + " |" for r in results]
    return "\n".join(lines)


def git_commit(checkout: Path, *paths: str) -> str:
    """The checkout's HEAD, or the last commit that changed paths (harness/: the code measured)."""
    p = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%H", "--", *paths],
                       capture_output=True, text=True, check=False)
    return p.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the harness checkout to measure")
    ap.add_argument("--python", default=None, help="[default: CHECKOUT/.venv/bin/python]")
    ap.add_argument("--runner", action="append", choices=["local", "docker"])
    ap.add_argument("--mode", action="append", choices=sorted(MODES))
    ap.add_argument("--cell-timeout", type=float, default=20)
    ap.add_argument("--hard-limit", type=float, default=180)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    checkout = args.checkout.resolve()
    python = args.python or str(checkout / ".venv" / "bin" / "python")
    runners = args.runner or ["local", "docker"]
    results: list[Result] = []
    base = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    for runner in runners:
        modes = args.mode or list(MODES)
        for mode in modes:
            if runner == "local" and mode not in LOCAL_SAFE:
                continue
            print(f"{mode} / {runner} ...", file=sys.stderr, flush=True)
            r = run_case(mode, runner, base, python=python, checkout=checkout,
                         cell_timeout=args.cell_timeout, hard_limit_s=args.hard_limit)
            results.append(r)
            print("  " + " | ".join(row(r)), file=sys.stderr, flush=True)
            if args.json:  # after every case: a later hang of the machine loses nothing
                write_json(args.json, checkout, python, args, results)
    shutil.rmtree(base, ignore_errors=True)
    print(markdown(results))
    return 0


def write_json(path: Path, checkout: Path, python: str, args: argparse.Namespace,
               results: list[Result]) -> None:
    doc: dict[str, Any] = {
        "checkout": str(checkout), "commit": git_commit(checkout),
        "harness_commit": git_commit(checkout, "harness"), "python": python,
        "cell_timeout": args.cell_timeout, "hard_limit_s": args.hard_limit,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "cases": [{**r.to_json(), "problems": problems(r, args.hard_limit)} for r in results],
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
