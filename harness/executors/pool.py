"""The local pool (`--jobs N`): N worker processes on this machine, one cell in each at once.

Each worker is a process made with the `spawn` context (never `fork` from a parent that
may hold threads, daemon clients and locks) and owns its own runner, opened on its
first cell and closed when it ends: its own container and daemon client under Docker,
its own reapers under the local runner. So no runner state is shared by cells that run
at the same time.

A small manager over `multiprocessing.Process` and one pipe per worker, rather than
`concurrent.futures.ProcessPoolExecutor`: here a cell is sent to a worker only when that
worker is free, so `started` names the worker and is called when the cell really starts;
a worker that dies takes down only its own cell (ProcessPoolExecutor breaks the whole
pool and cannot tell which of the cells in flight was the dead worker's); and Ctrl-C
can stop exactly the workers that are busy.

Clean-up, in every way a run can end:
- a cell's worker dies (killed, crashed): that cell comes back as `broken` (infra_error,
  never the candidate's failure), its engines end with their reapers (whose stdin
  closes) or their container's init (whose socket closes), and a fresh worker takes its
  place; what it left on disk or in the daemon is collected when the pool closes;
- Ctrl-C, SIGTERM or closing `run`'s generator early: every busy worker is told to stop
  (SIGTERM, which raises inside its cell, so the cell closes as under Ctrl-C), idle
  ones are told to end, each closes its runner; a worker that does not end in time is
  killed, and its leftovers are collected;
- `kill -9` of the harness: each worker has asked the kernel for SIGKILL when its
  parent dies (PR_SET_PDEATHSIG), so the workers die too, and their reapers or
  container inits end every engine; stopped containers and cell folders are collected
  by the next run or `harness gc`. The kernel's "parent" is the thread that started the
  worker, so `run` must be iterated from a thread that outlives the run (the main one).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from harness.cells import CellSpec
from harness.errors import HarnessError, UsageError
from harness.executors.base import Executor, RunnerSpec, Say, Started, _quiet, broken, execute
from harness.model import CellResult
from harness.runners.base import Runner

_CTX = multiprocessing.get_context("spawn")
PR_SET_PDEATHSIG = 1
STOP_S = 30.0  # how long a worker may take to close its cell and runner once told to stop


class _Stop(BaseException):
    """Raised inside a worker by SIGTERM or SIGINT: stop the cell in flight and end."""


def _stop(signum: int, frame: FrameType | None) -> None:
    _calm()
    raise _Stop


def _calm() -> None:
    """From now on SIGINT and SIGTERM do nothing: a second signal must not cut short the
    clean-up that the first one started. (A Python no-op, not SIG_IGN: a signal already
    on its way to a handler that became SIG_IGN is reported as a 'race condition'.)"""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _ignore)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A signal after the first: the worker is already closing."""


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies; end now if it has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _one_cell(runner: RunnerSpec, opened: list[Runner], spec: CellSpec,
              wall_s: float) -> CellResult:
    """The cell's result, opening the worker's runner first if it has none yet.

    The runner goes into opened the moment it exists, so that a signal in this worker's
    first cell still finds it to close (with the container it started ahead)."""
    t0 = time.monotonic()
    try:
        if not opened:
            opened.append(runner.open())
        return execute(opened[0], spec, wall_s)
    except HarnessError as exc:
        return broken(spec, f"the worker could not run the cell: {exc}", time.monotonic() - t0)
    except Exception as exc:  # a harness bug on the worker: never the candidate's failure
        return broken(spec, f"harness error on the worker: {type(exc).__name__}: {exc}",
                      time.monotonic() - t0)


def _worker(conn: Connection, runner: RunnerSpec, wall_s: float, parent: int) -> None:
    """A worker's life: cells from the pipe, one at a time, until None, EOF or a signal."""
    die_with_parent(parent)
    signal.signal(signal.SIGTERM, _stop)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # as the harness has it
        signal.signal(signal.SIGINT, _stop)
    opened: list[Runner] = []
    try:
        while True:
            spec = conn.recv()
            if spec is None:
                break
            conn.send(_one_cell(runner, opened, spec, wall_s))
    except (_Stop, EOFError, OSError):
        pass  # told to stop, or the parent went away: close up below
    finally:
        _calm()
        for r in opened:
            try:
                r.close()
            except HarnessError:
                pass  # what it could not release is collected by the next run


@dataclass(slots=True)
class _Worker:
    label: str
    process: BaseProcess
    conn: Connection
    spec: CellSpec | None = None
    since: float = field(default_factory=time.monotonic)


def _how(exitcode: int | None) -> str:
    if exitcode is None:
        return "it did not answer"
    if exitcode == 0:
        return "it was interrupted"
    if exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class Pool(Executor):
    """N worker processes on this machine, each with a runner of its own."""

    name = "pool"

    def __init__(self, runner: RunnerSpec, jobs: int, wall_s: float, say: Say = _quiet) -> None:
        if jobs < 1:
            raise UsageError(f"--jobs {jobs}: give 1 or more")
        self.runner = runner
        self.workers = jobs
        self.wall_s = wall_s
        self._say = say
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []
        self._lost = 0  # workers that died or had to be killed: their leftovers are collected

    def _spawn(self) -> _Worker:
        taken = {w.label for w in (*self._idle, *self._busy)}
        label = next(f"w{n}" for n in range(1, self.workers + 2) if f"w{n}" not in taken)
        mine, theirs = _CTX.Pipe()
        process = _CTX.Process(target=_worker, name=f"harness-{label}", daemon=True,
                               args=(theirs, self.runner, self.wall_s, os.getpid()))
        process.start()
        theirs.close()
        return _Worker(label, process, mine)

    def _send(self, spec: CellSpec) -> _Worker | None:
        """A worker that took spec: an idle one, else a new one; None if none would."""
        for _ in range(2):
            w = self._idle.pop() if self._idle else self._spawn()
            try:
                w.conn.send(spec)
            except (OSError, ValueError):  # it died while idle: a fresh one takes the cell
                self._discard(w)
                continue
            w.spec, w.since = spec, time.monotonic()
            self._busy.append(w)
            return w
        return None

    def run(self, specs: Sequence[CellSpec], started: Started | None = None) -> Iterator[CellResult]:
        todo = deque(specs)
        finished = False
        try:
            while todo or self._busy:
                while todo and len(self._busy) < self.workers:
                    spec = todo.popleft()
                    w = self._send(spec)
                    if w is None:
                        yield broken(spec, "no worker process could be started for this cell")
                    elif started:
                        started(spec, w.label)
                ready = wait([*(w.conn for w in self._busy),
                              *(w.process.sentinel for w in self._busy)])
                for w in [w for w in self._busy if w.conn in ready or w.process.sentinel in ready]:
                    self._busy.remove(w)
                    yield self._collect(w)
            finished = True
        finally:
            if not finished:  # Ctrl-C, or the caller stopped early: end every worker
                self.close()

    def _collect(self, w: _Worker) -> CellResult:
        """The finished cell's result, or `broken` if its worker died before sending one."""
        spec = w.spec
        assert spec is not None
        w.spec = None
        try:
            if w.conn.poll():
                result: CellResult = w.conn.recv()
                if w.process.is_alive():
                    self._idle.append(w)
                else:
                    self._discard(w)
                return result
        except (EOFError, OSError):
            pass  # it died: below
        except Exception as exc:  # a result that does not unpickle is the harness's failure
            self._discard(w)
            return broken(spec, f"the result from worker {w.label} could not be read: {exc}")
        w.process.join(5)
        why = (f"worker {w.label} (pid {w.process.pid}) died mid-cell"
               f" ({_how(w.process.exitcode)}); the cell was not judged")
        self._discard(w)
        self._say(why)
        return broken(spec, why, time.monotonic() - w.since)

    def _discard(self, w: _Worker) -> None:
        w.conn.close()
        if w.process.is_alive():
            w.process.kill()
        w.process.join(5)
        if w.process.exitcode != 0:
            self._lost += 1

    def _stop_busy(self) -> None:
        """Stop every cell in flight: SIGTERM makes each busy worker close its cell."""
        busy, self._busy = self._busy, []
        for w in busy:
            if w.process.pid is not None and w.process.is_alive():
                os.kill(w.process.pid, signal.SIGTERM)
        self._end(busy)

    def _end(self, workers: Sequence[_Worker]) -> None:
        deadline = time.monotonic() + STOP_S
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.process.is_alive():
                self._say(f"worker {w.label} did not end within {STOP_S:.0f} s: killed")
            self._discard(w)

    def close(self) -> None:
        self._stop_busy()
        idle, self._idle = self._idle, []
        for w in idle:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass  # gone already
        self._end(idle)
        if self._lost:
            self._lost = 0
            collect_leftovers(self.runner, self._say)


def collect_leftovers(runner: RunnerSpec, say: Say) -> None:
    """Remove the cell folders and stopped containers of workers that died."""
    from harness import owner

    try:
        owner.sweep()
        if runner.kind == "docker":
            from harness.container.client import collect, connect

            gone = collect(connect())
            if gone.removed:
                say(f"removed {len(gone.removed)} container(s) left by workers that died")
    except HarnessError as exc:
        say(f"could not collect what dead workers left (the next run will): {exc}")
