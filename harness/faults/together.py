"""Driving several engine invocations at once, for variants that cannot touch one another.

A scenario that asks the same read-only question of many damaged copies of one state
(torn-tail's `status` at every byte offset) spends its time starting engines, not
judging them. `drive_together` starts a batch at once, each on its own STATE_DIR, and
waits for all: the cell's wall time shrinks by the batch width, and each invocation is
recorded exactly as `inject.drive` records one (exit code, streams, the bytes of its own
log before and after). No fault is delivered; each keeps the bound `drive` gives it, and
the cell's wall-clock limit ends the batch the way it ends one invocation.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import CellLimitReached
from harness.faults.inject import TICK_S, CellLimit, Watcher, _end_quietly
from harness.observe import Invocation
from harness.runners.base import Cell, EngineProcess
from harness.safefs import LOG_CAP

# How many invocations a procedure runs at once. Each is mostly an engine starting (a
# Python engine's start is ~0.1 s of CPU), so a few at once keep a core busy without
# crowding the cells that run beside this one.
WIDTH = 4


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation of a batch: its label, its arguments, and the log (relative to the
    cell root) whose bytes before and after it the record keeps."""

    label: str
    args: tuple[str, ...]
    log: str


def _record(call: Call, proc: EngineProcess, rc: int | None, ended: float, fault: str,
            before: bytes | None, watcher: Watcher) -> Invocation:
    out, err = proc.output()
    out_cut, err_cut = proc.cuts()
    return Invocation(label=call.label, args=call.args, returncode=rc, started=proc.started,
                      ended=ended, stdout=out[-65536:], stderr=err[-65536:], fault=fault,
                      log_before=before,
                      log_after=watcher.files.read(call.log, LOG_CAP, intern=True),
                      stdout_cut=out_cut, stderr_cut=err_cut)


def drive_together(cell: Cell, watcher: Watcher, calls: Sequence[Call], *, bound_s: float,
                   limit: CellLimit | None = None) -> list[Invocation]:
    """Run every call to its end (or its bound) at once; their records, in call order.

    With a cell limit each bound is cut to the time the cell has left; when it passes,
    every engine still running is killed, recorded in `limit.cut`, and CellLimitReached
    raised, as `drive` does for one."""
    if limit is not None and calls:
        limit.check(calls[0].label)
    befores = [watcher.files.read(c.log, LOG_CAP, intern=True) for c in calls]
    procs = [cell.start(c.args) for c in calls]
    stops = [p.started + bound_s for p in procs]
    if limit is not None:
        stops = [min(s, limit.deadline) for s in stops]
    done: dict[int, tuple[int | None, float, str]] = {}
    why = ""
    try:
        while len(done) < len(procs):
            now = time.monotonic()
            for i, proc in enumerate(procs):
                if i in done:
                    continue
                rc = proc.poll()
                if rc is None and now >= stops[i]:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10.0)
                    at_limit = limit is not None and stops[i] >= limit.deadline
                    why = limit.fault if at_limit and limit else why
                    done[i] = (None, time.monotonic(),
                               limit.fault if at_limit and limit else
                               f"killed at the harness bound {bound_s} s")
                elif rc is not None:
                    done[i] = (rc, now, "")
            watcher.tick()
            waiting = [p for i, p in enumerate(procs) if i not in done]
            if waiting:
                waiting[0].wait(TICK_S)
    except CellLimitReached as exc:  # the runner's backstop ended the cell
        why = str(exc)
        for i, proc in enumerate(procs):
            if i not in done:
                _end_quietly(proc)
                done[i] = (None, time.monotonic(), why)
    watcher.tick()
    invs = [_record(c, p, *done[i], befores[i], watcher)
            for i, (c, p) in enumerate(zip(calls, procs, strict=True))]
    if why:
        if limit is not None:
            limit.cut.extend(inv for inv in invs if inv.returncode is None)
        raise CellLimitReached(why)
    return invs
