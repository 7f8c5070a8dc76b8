"""Driving one engine invocation through a runner, delivering a fault at a chosen moment.

`drive` starts the candidate, watches the cell every few milliseconds and, when its
`Trigger` is met, delivers a signal (or runs an action). Triggers read only ground
truth: the number of complete lines in the log, the probe's audit, the clock. The
`Watcher` follows every process the audit names across the whole scenario and records
when each was first seen dead, and every file that appears in outputs/; an
observed death time is an upper bound on the real one.

The harness bounds every invocation; an engine still running at its bound is killed
and recorded as such (returncode None), never waited on forever. The cell as a whole
has a wall-clock limit too (`CellLimit`): each invocation's bound is cut to the time the
cell has left, and an engine still running when it passes is killed, recorded, and the
procedure stops with `CellLimitReached`, so the cell is judged on what it did. Every look
at the cell's files goes through the watcher's `safefs.CellFiles`: no link is followed
and no special file opened, and what was refused is kept as a hazard for the checks.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import inotify
from harness.errors import CellLimitReached, HarnessError, InfraError
from harness.layout import AUDIT, LOG, OUTPUTS, STATE, WORK
from harness.observe import Invocation, Publication, parse_audit
from harness.runners.base import Cell, EngineProcess
from harness.safefs import AUDIT_CAP, LOG_CAP, OUTPUT_CAP, CellFiles, Unsafe

TICK_S = 0.005


@dataclass(frozen=True, slots=True)
class Trigger:
    """When to strike: `events` complete log lines, `seconds` after start, the
    `starts`-th probe start of `step` (any step when empty), the `children`-th
    grandchild a probe spawned (of `step`, or any), or once `outputs/STEP` is published
    (`outputs`); then `delay` seconds more. Counting what the probes recorded, rather
    than waiting a time after an event, makes a fault land in the state it is meant for
    however slowly the machine starts processes."""

    kind: str
    value: float
    step: str = ""
    delay: float = 0.0

    def describe(self) -> str:
        what = {
            "events": f"the log holds {int(self.value)} complete events",
            "seconds": f"{self.value:.3f} s",
            "starts": f"{int(self.value)} probe start(s)" + (f" of {self.step}" if self.step else ""),
            "children": f"{int(self.value)} grandchild(ren) running"
                        + (f" under {self.step}" if self.step else ""),
            "outputs": f"outputs/{self.step} is published",
        }[self.kind]
        return f"after {what}" + (f" + {self.delay:.3f} s" if self.delay else "")


@dataclass(frozen=True, slots=True)
class CellLimit:
    """The cell's wall-clock limit (`--cell-timeout`), the harness's own on every runner.

    `cut` collects the invocations it ended (the procedure never got them back), so the
    cell's record still holds them."""

    wall_s: float
    deadline: float  # time.monotonic() when it passes
    cut: list[Invocation] = field(default_factory=list)

    @classmethod
    def starting_now(cls, wall_s: float) -> CellLimit:
        return cls(wall_s, time.monotonic() + wall_s)

    @property
    def fault(self) -> str:
        return f"killed at the cell's wall-clock limit of {self.wall_s:g} s"

    def check(self, before: str) -> None:
        """CellLimitReached if the limit has passed (nothing more may start)."""
        if time.monotonic() >= self.deadline:
            raise CellLimitReached(f"the cell's wall-clock limit of {self.wall_s:g} s passed"
                                   f" before {before}")


def read_log(files: CellFiles, *, keep: bool = False) -> bytes | None:
    """The log's bytes (at most LOG_CAP); None if missing or refused. keep: the bytes go
    into an observation, so equal logs are interned and held once."""
    return files.read(LOG, LOG_CAP, intern=keep)


def output_entries(files: CellFiles) -> list[tuple[str, os.stat_result]]:
    """What outputs/ holds, each name with its own status (none if outputs/ is missing or
    refused); every entry that is not a regular file is noted as a hazard."""
    try:
        listing = files.entries(OUTPUTS) or []
    except Unsafe as exc:
        files.note(str(exc))
        return []
    for name, st in listing:
        if not stat.S_ISREG(st.st_mode):
            files.note(files.describe(f"{OUTPUTS}/{name}") or f"{OUTPUTS}/{name} is not a"
                       " regular file")
    return listing


class Watcher:
    """Follows the cell's recorded processes and outputs for a whole scenario."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.procs: dict[int, int | None] = {}  # pid -> starttime, from the audit
        self.deaths: dict[int, float] = {}
        self.publications: list[Publication] = []
        self._seen_files: dict[str, tuple[int, int]] = {}
        self._audit_len = 0
        # Writes to outputs/ID after it appeared under that name, from the kernel's
        # event queue: polling alone misses a partial file it did not happen to see.
        self.written_in_place: dict[str, int] = {}
        # Times a name appeared in outputs/ (created, linked or renamed into place): the
        # kernel reports each one, so a republish is seen however quickly it follows.
        self.appearances: dict[str, int] = {}
        # Times a name in outputs/ was written and then closed (a session that changed its
        # bytes): a republish in place, over the same inode, is a second session. How
        # often polling sees a growing file in between is up to the scheduler; this is not.
        self.write_sessions: dict[str, int] = {}
        self._dirty: set[str] = set()  # names written since their last close
        self.files = CellFiles(cell.root)
        self._ino = inotify.Inotify()
        self._outputs_watched = False
        self._watch(WORK, inotify.IN_CREATE)
        self._watch_state()

    def _watch(self, rel: str, mask: int) -> bool:
        """Watch the real directory rel, found beneath the cell root. inotify takes a path
        and follows every link on it (IN_DONT_FOLLOW spares only the last component), so
        it is given /proc/self/fd/N of a descriptor that safefs resolved: the very
        directory, never what a link in its place points at."""
        try:
            with self.files.dir_path(rel) as path:
                return path is not None and self._ino.watch(path, mask | inotify.IN_ONLYDIR,
                                                             label=rel)
        except Unsafe as exc:
            self.files.note(str(exc))
            return False

    def _watch_state(self) -> None:
        if self._watch(STATE, inotify.IN_CREATE):
            self._watch_outputs()

    def _watch_outputs(self) -> None:
        mask = inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_MODIFY | inotify.IN_CLOSE_WRITE
        if self._watch(OUTPUTS, mask):
            self._outputs_watched = True

    def _drain(self) -> None:
        if self._ino.fd is None:
            return
        for ev in self._ino.read():
            if ev.is_dir and ev.folder == WORK and ev.name == "state":
                self._watch_state()
            elif ev.is_dir and ev.folder == STATE and ev.name == "outputs":
                self._watch_outputs()
            elif ev.folder == OUTPUTS and ev.mask & inotify.IN_MODIFY:
                self.written_in_place[ev.name] = self.written_in_place.get(ev.name, 0) + 1
                self._dirty.add(ev.name)
            elif ev.folder == OUTPUTS and ev.mask & inotify.IN_CLOSE_WRITE:
                if ev.name in self._dirty:
                    self._dirty.discard(ev.name)
                    self.write_sessions[ev.name] = self.write_sessions.get(ev.name, 0) + 1
            elif (ev.folder == OUTPUTS and not ev.is_dir
                  and ev.mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO)):
                self.appearances[ev.name] = self.appearances.get(ev.name, 0) + 1
        if self._ino.overflowed:
            raise InfraError("the kernel's inotify queue overflowed while watching outputs/;"
                             " the cell cannot be judged")
        if not self._outputs_watched:
            self._watch_outputs()

    def close(self) -> None:
        self._ino.close()

    def sessions(self) -> dict[str, int]:
        """Write sessions per name in outputs/, one still open (written, never closed)
        included."""
        out = dict(self.write_sessions)
        for name in self._dirty:
            out[name] = out.get(name, 0) + 1
        return out

    def audit(self) -> tuple[dict[str, Any], ...]:
        return parse_audit(self.files.read(AUDIT, AUDIT_CAP) or b"")

    def tick(self) -> None:
        raw = self.files.read(AUDIT, AUDIT_CAP) or b""
        if len(raw) != self._audit_len:
            self._audit_len = len(raw)
            for rec in parse_audit(raw):
                if rec.get("kind") in ("start", "child") and isinstance(rec.get("pid"), int):
                    self.procs.setdefault(rec["pid"], rec.get("starttime"))
        pending = [(p, s) for p, s in self.procs.items() if p not in self.deaths]
        if pending:
            try:
                alive = self.cell.alive(pending)
            except CellLimitReached:
                alive = set()  # the runner's backstop ended the cell: nothing in it lives
            now = time.monotonic()
            for pid, _ in pending:
                if pid not in alive:
                    self.deaths[pid] = now
        self._drain()
        self._scan_outputs()

    def _scan_outputs(self) -> None:
        for name, st in output_entries(self.files):
            key = (st.st_ino, st.st_size)
            if self._seen_files.get(name) != key:
                self._seen_files[name] = key
                self.publications.append(Publication(name, st.st_ino, st.st_size,
                                                     time.monotonic()))

    def alive_now(self) -> tuple[int, ...]:
        self.tick()
        return tuple(sorted(p for p in self.procs if p not in self.deaths))


def _met(trigger: Trigger, files: CellFiles, elapsed: float) -> bool:
    if trigger.kind == "seconds":
        return elapsed >= trigger.value
    if trigger.kind == "events":
        return (read_log(files) or b"").count(b"\n") >= trigger.value
    if trigger.kind in ("starts", "children"):
        kind = "start" if trigger.kind == "starts" else "child"
        recs = parse_audit(files.read(AUDIT, AUDIT_CAP) or b"")
        n = sum(1 for r in recs if r.get("kind") == kind
                and (not trigger.step or r.get("step") == trigger.step))
        return n >= trigger.value
    if trigger.kind == "outputs":
        try:
            return files.lstat(f"{OUTPUTS}/{trigger.step}") is not None
        except Unsafe as exc:
            files.note(str(exc))
            return False
    raise ValueError(f"unknown trigger kind {trigger.kind!r}")


Action = Callable[[EngineProcess], None]


def signal_action(sig: int) -> Action:
    return lambda proc: proc.send_signal(sig)


def _end_quietly(proc: EngineProcess) -> None:
    """SIGKILL proc if it can still be reached; the cell's close ends the rest."""
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10.0)
    except HarnessError:
        pass  # the runner already ended the cell


def drive(cell: Cell, watcher: Watcher, args: Sequence[str], *, label: str, bound_s: float,
          trigger: Trigger | None = None, action: Action | None = None,
          action_name: str = "", limit: CellLimit | None = None,
          wrap: Sequence[str] = (), struck: str = "") -> Invocation:
    """Run ENTRYPOINT + args to its end (or the bound), striking once when trigger is met.

    With wrap (`harness.faults.exact`: strace set to kill the engine at one exact call)
    the strike is the tracer's: an engine that dies of SIGKILL without the harness
    having sent one was struck there, and `struck` says where.

    With a cell limit the bound is cut to the time the cell has left; an engine still
    running when the limit passes is killed, put in `limit.cut`, and CellLimitReached
    raised. So is an invocation the runner's backstop (or a nested run's limit) ended."""
    if limit is not None:
        limit.check(label)
    log_before = read_log(watcher.files, keep=True)
    proc = cell.start(args, wrap) if wrap else cell.start(args)
    stop_at = proc.started + bound_s
    at_limit = limit is not None and limit.deadline <= stop_at
    if limit is not None:
        stop_at = min(stop_at, limit.deadline)
    fault, fault_at, met_at, why = "", None, None, ""
    try:
        rc = proc.poll()
        while rc is None:
            now = time.monotonic()
            if now >= stop_at:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10.0)
                why = limit.fault if at_limit and limit else ""
                fault = (fault + "; " if fault else "") + (why or f"killed at the harness bound {bound_s} s")
                rc = None
                break
            if trigger is not None and fault_at is None:
                if met_at is None and _met(trigger, watcher.files, now - proc.started):
                    met_at = now
                if met_at is not None and now - met_at >= trigger.delay:
                    fault_at = time.monotonic()
                    fault = f"{action_name or 'SIGKILL'} {trigger.describe()}"
                    (action or signal_action(signal.SIGKILL))(proc)
            watcher.tick()
            rc = proc.wait(TICK_S)
    except CellLimitReached as exc:  # the runner's backstop, or a run the action started
        _end_quietly(proc)
        why = str(exc)
        fault, rc, at_limit = (fault + "; " if fault else "") + why, None, True
    ended = time.monotonic()
    if wrap and struck and rc == -signal.SIGKILL and not fault:
        fault, fault_at = f"SIGKILL {struck}", ended
    watcher.tick()
    out, err = proc.output()
    out_cut, err_cut = proc.cuts()
    inv = Invocation(label=label, args=tuple(args), returncode=rc, started=proc.started,
                     ended=ended, stdout=out[-65536:], stderr=err[-65536:], fault=fault,
                     fault_at=fault_at, log_before=log_before,
                     log_after=read_log(watcher.files, keep=True),
                     stdout_cut=out_cut, stderr_cut=err_cut)
    if rc is None and at_limit:
        if limit is not None:
            limit.cut.append(inv)
        raise CellLimitReached(why)
    return inv


def outputs_of(files: CellFiles, ids: Collection[str]) -> dict[str, bytes]:
    """The regular files in outputs/: the bytes (at most OUTPUT_CAP) of those named after
    a step id in ids, and b"" for any other name, which the checks judge by name alone:
    a flood of stray files costs no memory. Anything else there is noted, not read."""
    found = {}
    for name, st in output_entries(files):
        if not stat.S_ISREG(st.st_mode):
            continue
        data = files.read(f"{OUTPUTS}/{name}", OUTPUT_CAP) if name in ids else b""
        if data is not None:
            found[name] = data
    return found


def snapshot(cell: Cell, files: CellFiles, name: str) -> Path:
    """Copy STATE_DIR and the audit aside, to restore the same crash state more than once.

    Regular files and directories only: a link or special file is noted and raises
    `Unsafe` (a snapshot without it would not be the state the candidate left)."""
    dest = cell.private / "snapshots" / name
    for sub in (STATE, AUDIT):
        files.copy_out(sub, dest)
    return dest


def restore(cell: Cell, files: CellFiles, snap: Path) -> None:
    for sub in (STATE, AUDIT):
        files.copy_in(snap, sub)
        cell.hand_over(sub)
