"""Benchmark: the reference engine's `run` against `make -j8` on the same 1,000-step DAG,
side by side in one run; then where the reference's time goes.

The graph: LAYERS layers of WIDTH no-op steps (`true`); every step after the first layer
depends on DEPS steps of the layer before it (a fixed pattern, so each run sees the same
graph). The reference gets it as a workflow (max_parallel JOBS); make gets a Makefile
with the same targets, the same prerequisites and the same command, run with -jJOBS.
The two are timed alternately, ROUNDS times each (the machine is noisy and shared), and
the medians and their ratio are reported: only ratios measured in one run are compared.
Each reference run is checked: exit 0, WORKFLOW_SUCCEEDED last, one STEP_STARTED per step.
Each run's STATE_DIR is kept until the bench ends, never removed between timed runs: an
ext4 without a journal (as here) skips, for every new inode, each inode of the group
freed 1 to 300 seconds before, so the 1,000 log files one run leaves, removed, made every
later run's file creations slower, round after round (+0.1 s CPU per round on this
machine), while make creates no file. Other programs' deletions do the same, so the
JSON gives `create_us_per_file`, the CPU cost of one new file in the bench's folder
before and after the rounds: ~20 us is healthy; at ~700 us (seen in a busy /tmp here)
the reference's 1,000 log files alone cost 0.7 s CPU, and the ratio says more about
the folder than the engine (--tmp puts the bench elsewhere).

Then one more reference run under strace (when strace is there) counts the engine's
writes and fsyncs to the log and the events, and one under cProfile (engine process
only) lists the functions where its own time goes.

    python bench/bench_engine.py [--rounds 5] [--layers 10] [--width 100] [--deps 2]
        [--jobs 8] [--engine candidates/reference] [--json bench/engine.json] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def graph(layers: int, width: int, deps: int) -> dict[str, list[str]]:
    """step id -> its dependencies: a layered DAG, each step on `deps` of the layer above."""
    g: dict[str, list[str]] = {}
    for layer in range(layers):
        for i in range(width):
            above = [f"s{layer - 1}_{(i + k * 37) % width}" for k in range(deps)] if layer else []
            g[f"s{layer}_{i}"] = sorted(set(above))
    return g


def workflow(g: dict[str, list[str]], jobs: int) -> dict[str, Any]:
    return {"name": "bench-dag", "max_parallel": jobs,
            "steps": [{"id": s, "command": ["true"], "depends_on": d} for s, d in g.items()]}


def makefile(g: dict[str, list[str]]) -> str:
    """Phony targets, so every one runs its command each time, like every step does."""
    lines = [".PHONY: all " + " ".join(g), "all: " + " ".join(g)]
    for s, d in g.items():
        lines += [f"{s}: {' '.join(d)}".rstrip(), "\ttrue"]
    return "\n".join(lines) + "\n"


def time_make(mk: Path, jobs: int) -> float:
    t0 = time.monotonic()
    done = subprocess.run(["make", "-s", f"-j{jobs}", "-f", str(mk)], capture_output=True)
    wall = time.monotonic() - t0
    if done.returncode:
        raise SystemExit(f"make failed: {done.stderr.decode()[-2000:]}")
    return wall


def engine_argv(engine: Path) -> list[str]:
    import tomllib
    manifest = tomllib.loads((engine / "candidate.toml").read_text())
    argv = list(manifest["entrypoint"])
    return [sys.executable if argv[0] in ("python3", "python") else argv[0], *argv[1:]]


def check_log(state: Path, nsteps: int) -> dict[str, int]:
    events = [json.loads(x) for x in (state / "events.jsonl").read_text().splitlines()]
    starts = sum(e["type"] == "STEP_STARTED" for e in events)
    if events[-1]["type"] != "WORKFLOW_SUCCEEDED" or starts != nsteps:
        raise SystemExit(f"bad run in {state}: last {events[-1]['type']}, {starts} starts")
    return {"events": len(events), "starts": starts}


def time_engine(engine: Path, wf: Path, tmp: Path, nsteps: int,
                prefix: list[str] | None = None) -> tuple[float, dict[str, int]]:
    state = Path(tempfile.mkdtemp(dir=tmp, prefix="state-"))
    argv = [*(prefix or []), *engine_argv(engine), "run", str(wf), str(state)]
    t0 = time.monotonic()
    done = subprocess.run(argv, cwd=engine, capture_output=True)
    wall = time.monotonic() - t0
    if done.returncode:
        raise SystemExit(f"engine exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    return wall, check_log(state, nsteps)  # the folder stays until the bench ends: see above


def syscall_counts(engine: Path, wf: Path, tmp: Path, nsteps: int) -> dict[str, Any]:
    """Writes and fsyncs to events.jsonl by the engine, and processes made, from strace."""
    if not shutil.which("strace"):
        return {"skipped": "no strace"}
    trace = tmp / "trace.txt"
    state = Path(tempfile.mkdtemp(dir=tmp, prefix="state-"))
    argv = ["strace", "-f", "-y", "-qq", "-o", str(trace), "-e",
            "trace=write,fsync,fdatasync,clone,clone3,fork,vfork,execve",
            *engine_argv(engine), "run", str(wf), str(state)]
    subprocess.run(argv, cwd=engine, capture_output=True, check=True)
    counts = check_log(state, nsteps)
    text = trace.read_text(errors="replace").splitlines()
    log = "events.jsonl>"
    out = {
        "log_writes": sum(1 for ln in text if " write(" in ln and log in ln),
        "log_fsyncs": sum(1 for ln in text if ("fsync(" in ln) and log in ln),
        "processes_made": sum(1 for ln in text if any(
            f" {c}(" in ln for c in ("clone", "clone3", "fork", "vfork")) and "= -1" not in ln),
        "execve": sum(1 for ln in text if " execve(" in ln and "= 0" in ln),
        **counts,
    }
    shutil.rmtree(state)
    return out


def profile(engine: Path, wf: Path, tmp: Path, top: int) -> list[str]:
    """The engine's own functions by cumulative time, from cProfile in its process."""
    state = Path(tempfile.mkdtemp(dir=tmp, prefix="state-"))
    prof = tmp / "engine.prof"
    code = ("import cProfile,sys,os;sys.argv=[sys.argv[0],*sys.argv[1:]];"
            "sys.path.insert(0,os.getcwd());from refengine.cli import main;"
            f"cProfile.run('rc=main(sys.argv[1:])',{str(prof)!r})")
    subprocess.run([sys.executable, "-c", code, "run", str(wf), str(state)], cwd=engine,
                   capture_output=True, check=True)
    buf = io.StringIO()
    pstats.Stats(str(prof), stream=buf).sort_stats("tottime").print_stats(top)
    shutil.rmtree(state)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return [lines[0].strip()] + [ln.rstrip() for ln in lines[start:]]


def create_cost_us(folder: Path, files: int = 300) -> float:
    """CPU microseconds per new empty file in a new folder under `folder`: what each
    attempt's log file costs the reference there (make creates none). Tens of
    microseconds on a healthy file system; far more where many inodes of the folder's
    group were freed in the last minutes (see the note on STATE_DIR above)."""
    probe = Path(tempfile.mkdtemp(dir=folder, prefix="create-"))
    t0 = time.process_time()
    for i in range(files):
        os.close(os.open(probe / f"f{i}.1.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    cost = 1e6 * (time.process_time() - t0) / files
    return round(cost, 1)  # the folder stays until the bench ends, like a STATE_DIR


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--width", type=int, default=100)
    ap.add_argument("--deps", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--engine", type=Path, default=ROOT / "candidates" / "reference")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another engine folder (say, the reference before a change, from"
                         " git archive) timed in the same alternation")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--tmp", type=Path, default=None,
                    help="where the bench's folders (STATE_DIRs too) go; default: the system's")
    args = ap.parse_args()
    engine = args.engine.resolve()
    g = graph(args.layers, args.width, args.deps)
    with tempfile.TemporaryDirectory(prefix="bench-engine-", dir=args.tmp) as t:
        tmp = Path(t)
        create_before = create_cost_us(tmp)
        wf, mk = tmp / "dag.json", tmp / "Makefile"
        wf.write_text(json.dumps(workflow(g, args.jobs)))
        mk.write_text(makefile(g))
        make_s, ref_s, base_s = [], [], []
        baseline = args.baseline.resolve() if args.baseline else None
        for r in range(args.rounds):  # alternate, so all see the same load over time
            make_s.append(time_make(mk, args.jobs))
            ref_s.append(time_engine(engine, wf, tmp, len(g))[0])
            if baseline:
                base_s.append(time_engine(baseline, wf, tmp, len(g))[0])
            print(f"round {r + 1}: make {make_s[-1]:.2f} s, reference {ref_s[-1]:.2f} s"
                  + (f", baseline {base_s[-1]:.2f} s" if baseline else ""), file=sys.stderr)
        doc: dict[str, Any] = {
            "argv": sys.argv[1:],
            "graph": {"steps": len(g), "layers": args.layers, "width": args.width,
                      "deps_each": args.deps, "jobs": args.jobs, "command": "true"},
            "engine": str(engine.relative_to(ROOT)) if engine.is_relative_to(ROOT) else str(engine),
            "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip(),
            "rounds": args.rounds,
            "make_s": [round(x, 3) for x in make_s],
            "reference_s": [round(x, 3) for x in ref_s],
            "make_median_s": round(statistics.median(make_s), 3),
            "reference_median_s": round(statistics.median(ref_s), 3),
        }
        doc["ratio_reference_to_make"] = round(doc["reference_median_s"] / doc["make_median_s"], 2)
        doc["per_step_ms"] = {"make": round(1000 * doc["make_median_s"] / len(g), 3),
                              "reference": round(1000 * doc["reference_median_s"] / len(g), 3)}
        if baseline:
            doc["baseline"] = str(baseline)
            doc["baseline_s"] = [round(x, 3) for x in base_s]
            doc["baseline_median_s"] = round(statistics.median(base_s), 3)
            doc["ratio_baseline_to_make"] = round(doc["baseline_median_s"] / doc["make_median_s"], 2)
            doc["baseline_syscalls"] = syscall_counts(baseline, wf, tmp, len(g))
        doc["create_us_per_file"] = {"before": create_before, "after": create_cost_us(tmp)}
        doc["syscalls"] = syscall_counts(engine, wf, tmp, len(g))
        if not args.no_profile:
            doc["profile_tottime"] = profile(engine, wf, tmp, 15)
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
