"""The probe: a step program whose audit a candidate engine cannot fake.

Scenarios use it as the command of every step. It is copied into each cell (never into
the candidate) and run by the engine under test. It appends one JSON record per line to
an audit file outside STATE_DIR, each with a single write under an exclusive flock and
an fsync, so records survive any kill of the engine and never interleave.

Records: ``start`` (step, attempt, pid, pgid, ppid, starttime, monotonic and wall time,
and which processes named earlier in the audit were still alive at that moment),
``child`` (each grandchild it spawns), ``output`` (bytes written to $ENGINE_OUTPUT) and
``end`` (its exit code). The ``--fail-first``/``--hang-first`` counters are read from the
audit itself, so they survive engine restarts.

Standard library only; it must run under any Python 3 inside a container.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_starttime(pid: int) -> int | None:
    """Start time of pid in clock ticks since boot, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def read_audit(path: str) -> list[dict[str, object]]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    records = []
    for line in raw.split(b"\n"):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def append_locked(path: str, build: object) -> dict[str, object]:
    """Build a record while holding the audit's lock (so counts are exact), then append it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = build() if callable(build) else build
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
        os.fsync(fd)
        return record  # type: ignore[return-value]
    finally:
        os.close(fd)


def base_record(kind: str, step: str) -> dict[str, object]:
    return {
        "kind": kind,
        "step": step,
        "pid": os.getpid(),
        "mono": time.monotonic(),
        "wall": time.time(),
        # with starttime (clock ticks since boot), when this process was made, on the
        # monotonic clock: boot and mono read together, clk_tck converts the ticks
        "boot": time.clock_gettime(time.CLOCK_BOOTTIME),
        "clk_tck": os.sysconf("SC_CLK_TCK"),
    }


def start_record(args: argparse.Namespace) -> dict[str, object]:
    prior = read_audit(args.audit)
    runs_before = sum(1 for r in prior if r.get("kind") == "start" and r.get("step") == args.step)
    alive = []
    for r in prior:
        if r.get("kind") in ("start", "child") and r.get("pid") != os.getpid():
            pid = int(r["pid"])  # type: ignore[call-overload]
            if proc_starttime(pid) == r.get("starttime"):
                alive.append(pid)
    rec = base_record("start", args.step)
    rec.update(
        {
            "run": runs_before + 1,
            "attempt_env": os.environ.get("ENGINE_ATTEMPT"),
            "step_env": os.environ.get("ENGINE_STEP_ID"),
            "output_env": os.environ.get("ENGINE_OUTPUT"),
            "state_env": os.environ.get("ENGINE_STATE_DIR"),
            "output_preexisting": bool(os.environ.get("ENGINE_OUTPUT"))
            and os.path.lexists(os.environ["ENGINE_OUTPUT"]),
            "pgid": os.getpgid(0),
            "sid": os.getsid(0),
            "ppid": os.getppid(),
            "starttime": proc_starttime(os.getpid()),
            "alive_prior": sorted(set(alive)),
        }
    )
    return rec


def spawn_children(args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    children = []
    for i in range(args.children):
        ignore = i < args.ignore_term
        code = (
            "import signal,time\n"
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore else "")
            + "time.sleep(3600)\n"
        )
        child = subprocess.Popen([sys.executable, "-S", "-c", code])
        children.append(child)
        rec = base_record("child", args.step)
        rec.update(
            {"pid": child.pid, "parent": os.getpid(), "ignores_term": ignore,
             "starttime": wait_starttime(child.pid)}
        )
        append_locked(args.audit, rec)
    return children


def wait_starttime(pid: int) -> int | None:
    for _ in range(200):
        st = proc_starttime(pid)
        if st is not None:
            return st
        time.sleep(0.001)
    return None


def output_bytes(step: str, run: int, size: int) -> bytes:
    """Deterministic content that names the step and run, so a reader can tell whose it is."""
    header = f"probe-output step={step} run={run}\n".encode()
    block = hashlib.sha256(header).hexdigest().encode() + b"\n"
    body = (header + block * (size // len(block) + 1))[:size]
    return body


def write_output(args: argparse.Namespace, run: int) -> None:
    path = os.environ.get("ENGINE_OUTPUT")
    if not path:
        return
    data = output_bytes(args.step, run, args.write_output)
    with open(path, "wb") as f:
        chunk = max(1, len(data) // max(1, args.write_chunks))
        for i in range(0, len(data), chunk):
            f.write(data[i : i + chunk])
            f.flush()
            if args.write_delay:
                time.sleep(args.write_delay)
        os.fsync(f.fileno())
    rec = base_record("output", args.step)
    rec.update({"run": run, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "path": path})
    append_locked(args.audit, rec)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="probe")
    p.add_argument("--audit", required=True)
    p.add_argument("--step", required=True)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--fail-first", type=int, default=0, help="exit 1 on the first K runs")
    p.add_argument("--hang-first", type=int, default=0, help="hang on the first K runs")
    p.add_argument("--hang", action="store_true", help="hang on every run")
    p.add_argument("--children", type=int, default=0)
    p.add_argument("--ignore-term", type=int, default=0, help="how many children ignore TERM")
    p.add_argument("--write-output", type=int, default=-1, help="bytes for $ENGINE_OUTPUT")
    p.add_argument("--write-chunks", type=int, default=1)
    p.add_argument("--write-delay", type=float, default=0.0)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    start = append_locked(args.audit, lambda: start_record(args))
    run = int(start["run"])  # type: ignore[call-overload]
    children = spawn_children(args)
    if args.hang or run <= args.hang_first:
        while True:
            time.sleep(3600)
    if args.sleep:
        time.sleep(args.sleep)
    code = 1 if run <= args.fail_first else 0
    if code == 0 and args.write_output >= 0:
        write_output(args, run)
    for child in children:  # a probe that finishes leaves nothing behind
        child.send_signal(signal.SIGKILL)
        child.wait()
    rec = base_record("end", args.step)
    rec.update({"run": run, "exit": code})
    append_locked(args.audit, rec)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
