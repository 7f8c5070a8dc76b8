"""Benchmark: events per second of the reference's `status` on large valid logs.

For each size (10k, 100k, 1M events by default) it writes a workflow JSON with many steps
and an events.jsonl consistent with TASK.md (WORKFLOW_STARTED with the workflow's digest,
per step STEP_STARTED then STEP_SUCCEEDED, every fourth step first failing with
STEP_FAILED + STEP_RETRY_SCHEDULED, a few WORKFLOW_RESUMED with lost attempts, contiguous
seq, WORKFLOW_SUCCEEDED), checks the log once with the harness's own reader
(harness/eventlog.py), then times the real command

    python3 candidates/reference/main.py status STATE_DIR > /dev/null

a few times per size, the sizes alternated run by run (the machine is noisy and shared),
and reports the median wall time, events/s, and how the time grows from the smallest to
the largest size. The start-up floor is `status` of a one-event log, timed the same way.

    python bench/bench_status.py [--sizes 10000,100000,1000000] [--runs 5]
        [--json bench/status.json] [--label after] [--main path/to/main.py]
        [--before path/to/older/main.py]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MAIN = str(ROOT / "candidates" / "reference" / "main.py")


def write_case(folder: Path, n_events: int) -> tuple[Path, int]:
    """A workflow and a finished log of about n_events events; returns (STATE_DIR, count)."""
    n_steps = max(1, n_events * 4 // 11)  # ~2.75 events per step
    steps = [{"id": f"s{i:07d}", "command": ["true"],
              "retry": {"max_attempts": 2, "backoff_s": 0.5}} for i in range(n_steps)]
    wf = json.dumps({"name": f"bench-{n_events}", "max_parallel": 4, "steps": steps}).encode()
    (folder / "workflow.json").write_bytes(wf)
    digest = hashlib.sha256(wf).hexdigest()
    state = folder / "state"
    state.mkdir()
    out: list[str] = []
    seq = 0
    ts = 1_700_000_000.0

    def line(kind: str, fields: str = "") -> None:
        nonlocal seq, ts
        seq += 1
        ts += 0.001
        sep = "," if fields else ""
        out.append(f'{{"seq":{seq},"type":"{kind}","ts":{ts:.6f}{sep}{fields}}}\n')

    line("WORKFLOW_STARTED", f'"workflow":"bench-{n_events}","digest":"{digest}"')
    pid = 1000
    for i in range(n_steps):
        sid = f"s{i:07d}"
        pid += 1
        line("STEP_STARTED", f'"step":"{sid}","attempt":1,"pid":{pid},"pgid":{pid}')
        attempt = 1
        if i % 4 == 3:
            line("STEP_FAILED", f'"step":"{sid}","attempt":1,"reason":"exit","exit_code":1')
            line("STEP_RETRY_SCHEDULED", f'"step":"{sid}","attempt":2,"delay_s":0.5')
            pid += 1
            attempt = 2
            line("STEP_STARTED", f'"step":"{sid}","attempt":2,"pid":{pid},"pgid":{pid}')
        if i % 1000 == 999:  # a crash and resume: the attempt is lost, then run again
            line("WORKFLOW_RESUMED")
            line("STEP_FAILED", f'"step":"{sid}","attempt":{attempt},"reason":"lost"')
            attempt += 1
            pid += 1
            line("STEP_STARTED", f'"step":"{sid}","attempt":{attempt},"pid":{pid},"pgid":{pid}')
        line("STEP_SUCCEEDED", f'"step":"{sid}","attempt":{attempt}')
    line("WORKFLOW_SUCCEEDED")
    (state / "events.jsonl").write_text("".join(out))
    return state, seq


def check_valid(state: Path, workflow: Path) -> None:
    """The log is valid by the harness's own reader: no damage, nothing torn, every event
    complete, seq contiguous, the digest the workflow's."""
    from harness import eventlog as hlog

    raw = (state / "events.jsonl").read_bytes()
    parsed = hlog.parse_log(raw)
    events = parsed.events
    assert not parsed.is_damaged and not parsed.torn and parsed.finished
    ids = [s["id"] for s in json.loads(workflow.read_bytes())["steps"]]
    idset = set(ids)
    for ev in events:
        problems = hlog.event_problems(ev, idset)  # type: ignore[arg-type]
        assert not problems, (ev, problems)
    assert not hlog.seq_problems(events)
    assert events[0]["digest"] == hashlib.sha256(workflow.read_bytes()).hexdigest()


def time_status(main: str, state: Path) -> float:
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        code = subprocess.run([sys.executable, main, "status", str(state)], stdout=null).returncode
        wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"status {state}: exit {code}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "bench" / "status.json"))
    ap.add_argument("--label", default="")
    ap.add_argument("--main", default=MAIN, help="the engine's main.py (default: the reference)")
    ap.add_argument("--before", help="another main.py (say, the reference at an older commit),"
                    " timed in the same runs, alternated with --main; ratios are reported")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        cases: dict[str, tuple[Path, int]] = {}
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        state, _ = write_case(floor_dir, 1)
        (state / "events.jsonl").write_text(  # one event: the start-up floor
            (state / "events.jsonl").read_text().splitlines(keepends=True)[0])
        cases["floor"] = (state, 1)
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            state, count = write_case(folder, n)
            check_valid(state, folder / "workflow.json")
            cases[str(n)] = (state, count)
        walls: dict[str, list[float]] = {k: [] for k in cases}
        before: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):  # alternate the sizes (and the engines) run by run
            for key, (state, _count) in cases.items():
                walls[key].append(time_status(args.main, state))
                if args.before:
                    before[key].append(time_status(args.before, state))
    rows: dict[str, Any] = {}
    for key, (_state, count) in cases.items():
        med = statistics.median(walls[key])
        rows[key] = {"events": count, "median_s": round(med, 4),
                     "events_per_s": round(count / med), "walls_s": [round(w, 4) for w in walls[key]]}
        print(f"{key:>8}: {count:>8} events  median {med:7.3f} s  {count / med:>10,.0f} events/s")
        if args.before:
            old = statistics.median(before[key])
            rows[key].update(before_median_s=round(old, 4), before_events_per_s=round(count / old),
                             speedup=round(old / med, 2), before_walls_s=[round(w, 4) for w in before[key]])
            print(f"{'':>8}  before: median {old:7.3f} s  {count / old:>10,.0f} events/s"
                  f"  speed-up x{old / med:.2f}")
    small, large = rows[str(sizes[0])], rows[str(sizes[-1])]
    floor = rows["floor"]["median_s"]
    growth = {
        "time_ratio": round(large["median_s"] / small["median_s"], 2),
        "events_ratio": round(large["events"] / small["events"], 2),
        "time_ratio_above_floor": round(
            (large["median_s"] - floor) / max(small["median_s"] - floor, 1e-9), 2),
        "floor_s": floor,
    }
    print(f"growth {sizes[0]} -> {sizes[-1]}: time x{growth['time_ratio']} for events "
          f"x{growth['events_ratio']} (above the start-up floor: x{growth['time_ratio_above_floor']})")
    doc = {"label": args.label, "command": "python3 candidates/reference/main.py status DIR > /dev/null",
           "main": args.main, "before": args.before,
           "runs": args.runs, "python": sys.version.split()[0], "sizes": rows, "growth": growth}
    path = Path(args.json)
    prior: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    prior[args.label or "latest"] = doc
    path.write_text(json.dumps(prior, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
