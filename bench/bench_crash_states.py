"""What crash states cost: how their count grows with the log, and states per second.

Part 1, growth (offline): the reference runs serial workflows of N steps (every other
step writes an output) once under strace; for each N the bench counts the log's events,
the durability calls, the crash points, and the prefix, torn and power-loss states a
full enumeration builds, and times building them (states per second, offline).

Part 2, end to end: the crash-states scenario (when this checkout has it) on the given
candidates under the given runner: the cell's wall time, the states it tried per model,
and states per second (status + run per state, in a fresh STATE_DIR each).

Figures from one run; ratios are the only comparisons the noisy machine allows.

    python bench/bench_crash_states.py [--steps 4 8 16 32 64] [--runner local|docker]
        [--json out.json] [CANDIDATE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import api  # noqa: E402
from harness.manifest import load_candidate  # noqa: E402
from harness.runners.local import PROBE  # noqa: E402
from harness.scenario import workflow_bytes  # noqa: E402
from harness.trace import durability_calls, parse_trace, strace_argv  # noqa: E402
from harness.trace.plan import crash_points  # noqa: E402
from harness.trace.states import power_loss_states, prefix_states, torn_states  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def serial(n: int) -> dict[str, Any]:
    steps = []
    for i in range(n):
        probe = ["--write-output", "200"] if i % 2 else []
        steps.append({"id": f"s{i}", "probe": probe,
                      **({"depends_on": [f"s{i - 1}"]} if i else {})})
    return {"name": f"serial-{n}", "max_parallel": 1, "steps": steps}


def growth(n: int, tmp: Path) -> dict[str, Any]:
    audit, state, trace = tmp / "audit.jsonl", tmp / "state", tmp / "trace.txt"
    wf = tmp / "workflow.json"
    wf.write_bytes(workflow_bytes(serial(n), [sys.executable, "-I", "-S", str(PROBE)], str(audit)))
    ref = ROOT / "candidates" / "reference"
    env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
           "HOME": str(tmp), "TMPDIR": str(tmp), "LANG": "C.UTF-8"}
    argv = strace_argv(["python3", "main.py", "run", str(wf), str(state)], str(trace))
    subprocess.run(argv, cwd=ref, env=env, check=True, capture_output=True, timeout=600)
    calls = durability_calls(parse_trace(trace.read_text()), str(state))
    t0 = time.perf_counter()
    built = {"prefix": len(prefix_states(calls)), "torn": len(torn_states(calls)),
             "power_loss": len(power_loss_states(calls))}
    took = time.perf_counter() - t0
    events = (state / "events.jsonl").read_bytes().count(b"\n")
    total = sum(built.values())
    return {"steps": n, "events": events, "calls": len(calls),
            "crash_points": len(crash_points(calls)), "states": built,
            "states_per_event": round(total / events, 2), "build_s": round(took, 3),
            "built_per_s": round(total / took) if took else None}


def end_to_end(names: list[str], runner_name: str) -> list[dict[str, Any]]:
    if not (ROOT / "scenarios" / "crash-states.toml").exists():
        return []
    found = api.all_scenarios(pattern="crash-states")
    runner, _ = api.choose_runner(runner_name, say=lambda _: None)
    rows = []
    with runner:
        for name in names:
            t0 = time.monotonic()
            cell = api.run_cell(runner, load_candidate(ROOT / "candidates" / name), found[0], 1)
            wall = time.monotonic() - t0
            tally = cell.extra.get("crash_states") or {}
            models = tally.get("models") or {}
            tried = sum(int(m.get("tried", 0)) for m in models.values())
            rows.append({"candidate": name, "runner": runner_name, "wall_s": round(wall, 1),
                         "states": tally, "tried": tried,
                         "states_per_s": round(tried / wall, 2) if wall else None,
                         "failed": sorted(r.check for r in cell.results
                                          if r.outcome.value == "fail")})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("candidates", nargs="*", default=["reference", "model-a", "model-b"])
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    ap.add_argument("--runner", default="local", choices=["local", "docker"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for n in args.steps:
        with tempfile.TemporaryDirectory(prefix="bench-states-") as tmp:
            rows.append(growth(n, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr)
    record = {"growth": rows, "end_to_end": end_to_end(args.candidates, args.runner)}
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
