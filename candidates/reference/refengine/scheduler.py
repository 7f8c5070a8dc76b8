"""The scheduler: a single-threaded, non-blocking event loop over the workflow's steps.

Properties kept on purpose:
- Persist, then act: every decision is appended to the log (durably) before a process
  is told to run, an output is published or the workflow's end is reported.
- Group commit: a pass writes the ends it reaped (STEP_SUCCEEDED / STEP_FAILED /
  STEP_RETRY_SCHEDULED) and the STEP_STARTED of the steps already queued before it in
  one write and one fsync. Those starts act on no event of that write: a step is queued
  only once the successes of its dependencies, and the retry it waits for, are durable
  (`after_durable`). Each start gets its go-ahead, each success its publish, and the
  dependents of the ends their place in the queue, only after the fsync; the dependents
  then start in a second group of the same pass while slots are free.
- Readiness is kept, not searched for: `unmet` counts each step's dependencies whose
  success is not yet durable, and `queue` (a heap by file order, so steps start in the
  order a scan of the file would start them) holds the steps that may start; `_ready`
  still decides each one. A pass costs what it starts and reaps, not the number of
  steps; only the end of the run (nothing running) scans every step.
- Nothing blocks the loop. Retry due times, timeouts and kill escalations are
  deadlines; the loop waits in select() on a self-pipe (signal.set_wakeup_fd) that
  SIGCHLD, SIGTERM and SIGINT write to, never longer than the nearest deadline. So one
  step's backoff never stalls another step. No threads, no sleep().
- A step starts only when every dependency has succeeded, at most max_parallel
  attempts run, a step whose dependency failed for good never starts, and the
  workflow ends once nothing is running and nothing more can start.
- Attempt numbers grow per step and are never reused, across resumes too.
- On SIGTERM/SIGINT every running group is ended (TERM, then KILL) and nothing is
  written for them: the next `run` records those attempts as lost.
"""

from __future__ import annotations

import heapq
import os
import select
import signal
import time
from typing import Any

from refengine import outputs, supervisor
from refengine.eventlog import EventLog
from refengine.state import StepState
from refengine.supervisor import Attempt
from refengine.workflow import Workflow

SHUTDOWN_TERM_S = 1.5  # on SIGTERM/SIGINT: SIGKILL the groups after this long
MAX_WAIT_S = 3600.0  # select() cannot take an unbounded timeout; waking hourly is free
_early_signal = 0  # a SIGTERM/SIGINT that arrived before the loop started


def _note_early_signal(signum: int, _frame: Any) -> None:
    global _early_signal
    _early_signal = _early_signal or signum


def catch_stop_signals() -> None:
    """From the start of `run`: note SIGTERM/SIGINT, so recovery is never cut mid-step."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _note_early_signal)


def _failure(a: Attempt) -> dict[str, Any]:
    """STEP_FAILED's reason, with the exit code or signal that ended the leader."""
    rc = a.returncode if a.returncode is not None else 0
    detail: dict[str, Any] = {"signal": -rc} if rc < 0 else {"exit_code": rc}
    if a.timed_out:
        return {"reason": "timeout", **detail}
    return {"reason": "signal" if rc < 0 else "exit", **detail}


def _remove_stale(path: str) -> None:
    """ENGINE_OUTPUT must not exist when an attempt starts. One unlink in the usual case
    (nothing there: ENOENT); a folder (not a link to one) is removed whole."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # EISDIR on Linux, EPERM elsewhere: a folder, or not ours to remove
        if not os.path.isdir(path) or os.path.islink(path):
            raise
        import shutil  # here only: a folder in the way is rare, and `run` starts faster

        shutil.rmtree(path)


def _dependents(wf: Workflow) -> dict[str, list[str]]:
    """Each step's id -> the steps that depend on it directly, in file order."""
    found: dict[str, list[str]] = {s.id: [] for s in wf.steps}
    for step in wf.steps:
        for d in dict.fromkeys(step.depends_on):  # a repeated dependency counts once
            found[d].append(step.id)
    return found


def _dependency_order(wf: Workflow) -> list[str]:
    """Step ids, each after all of its dependencies (the workflow is known acyclic).
    Kahn's algorithm: linear in steps and edges, however the file orders them."""
    dependents = _dependents(wf)
    unmet = {s.id: len(set(s.depends_on)) for s in wf.steps}
    order = [s.id for s in wf.steps if not unmet[s.id]]
    for sid in order:  # grows while it is read
        for d in dependents[sid]:
            unmet[d] -= 1
            if not unmet[d]:
                order.append(d)
    return order


class Scheduler:
    """One `run` of the workflow from a replayed state: the loop and what it acts on."""

    def __init__(self, wf: Workflow, state_dir: str, log: EventLog,
                 steps: dict[str, StepState]) -> None:
        self.wf, self.state_dir, self.log = wf, state_dir, log
        self.steps = {s.id: steps.get(s.id, StepState()) for s in wf.steps}
        self.running: dict[str, Attempt] = {}
        self.due: dict[str, float] = {}  # step -> monotonic time its retry may start
        self.order = _dependency_order(wf)
        self.stop_signal = 0
        self._wake_r = -1
        self._env = dict(os.environ)  # copied once: os.environ decodes every entry per copy
        self.index = {s.id: i for i, s in enumerate(wf.steps)}
        self.dependents = _dependents(wf)
        # Readiness, kept up to date instead of scanning every step per pass: unmet counts
        # each step's distinct dependencies whose success is not yet durable, and queue
        # (a heap by file order, ids in `queued`) holds the steps that may start once a
        # slot is free: all dependencies durably succeeded, last event durable.
        self.unmet = {s.id: self._unmet_deps(s.id) for s in wf.steps}
        self.queue: list[tuple[int, str]] = []
        self.queued: set[str] = set()
        now_wall, now = time.time(), time.monotonic()
        for sid, s in self.steps.items():  # a retry due `delay_s` after its event's ts
            if s.state == "retry_wait" and s.retry_due_ts is not None:
                self.due[sid] = now + max(0.0, s.retry_due_ts - now_wall)
            if s.state in ("pending", "retry_wait") and self.unmet[sid] <= 0:
                self._queue(sid)

    def _unmet_deps(self, sid: str) -> int:
        """How many of the step's distinct dependencies have not succeeded (in the log)."""
        return sum(self.steps[d].state != "succeeded" for d in set(self.wf.step(sid).depends_on))

    def _queue(self, sid: str) -> None:
        """The step may start when a slot is free (`_ready` still decides)."""
        if sid not in self.queued:
            self.queued.add(sid)
            heapq.heappush(self.queue, (self.index[sid], sid))

    def _succeeded(self, sid: str) -> None:
        """The step's STEP_SUCCEEDED is durable: queue each dependent it was the last
        unmet dependency of."""
        for d in self.dependents[sid]:
            self.unmet[d] -= 1
            if self.unmet[d] == 0 and self.steps[d].state in ("pending", "retry_wait"):
                self._queue(d)

    def run(self) -> int:
        """Run until the workflow ends (0 or 1) or a signal stops it (128 + signum)."""
        self._install_signals()
        try:
            for sid, s in self.steps.items():
                if s.state == "failed":  # a crash fell between STEP_FAILED and its retry
                    self._schedule_retry(sid)
            return self._loop()
        except BaseException:
            self._kill_all()  # an engine bug must not leave steps running behind the log
            raise

    def _install_signals(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD wakes select()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        self.stop_signal = self.stop_signal or _early_signal
        self._wake_r = wake_r

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signal = self.stop_signal or signum

    def _loop(self) -> int:
        while True:
            if self.stop_signal:
                return self._shutdown()
            now = time.monotonic()
            self._enforce_timeouts(now)
            # One group commit for the ends reaped and the starts of steps already queued
            # (ready on durable events only: no act on an end in the same write). The
            # dependents those ends make ready are queued once the group is durable, and
            # start in a second group while slots are free.
            with self.log.group():
                self._reap(now)
                self._start_ready(time.monotonic())
            # a fresh clock: a retry scheduled with no delay by _reap is due now, and
            # _next_deadline counts only times still to come
            self._start_ready(time.monotonic())
            if not self.running and not self._can_progress():
                return self._finish()
            self._wait(self._next_deadline(time.monotonic()))

    def _wait(self, timeout: float | None) -> None:
        """Sleep in select() until a signal arrives or `timeout` passes."""
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass  # drained

    def _blocked(self) -> set[str]:
        """Steps with a dependency, directly or further up, that failed for good.
        One pass in dependency order: no recursion, however long a chain is."""
        blocked: set[str] = set()
        for sid in self.order:
            if any(self.steps[d].state == "failed" or d in blocked
                   for d in self.wf.step(sid).depends_on):
                blocked.add(sid)
        return blocked

    def _ready(self, sid: str, now: float) -> bool:
        s = self.steps[sid]
        if sid in self.running or s.state not in ("pending", "retry_wait"):
            return False
        if s.state == "retry_wait" and self.due.get(sid, 0.0) > now:
            return False
        return all(self.steps[d].state == "succeeded" for d in self.wf.step(sid).depends_on)

    def _can_progress(self) -> bool:
        blocked = self._blocked()
        return any(s.state in ("pending", "retry_wait") and sid not in blocked
                   for sid, s in self.steps.items())

    def _start_ready(self, now: float) -> None:
        """Start what is ready, up to max_parallel, in file order: one group commit of
        their STEP_STARTED, then each command's go-ahead (`_go`, run when the group's
        fsync is done). Only queued steps are looked at, never every step."""
        waiting: list[tuple[int, str]] = []  # queued retries whose backoff is not over
        try:
            with self.log.group():
                while self.queue:
                    if len(self.running) >= self.wf.max_parallel or self.stop_signal:
                        break
                    item = heapq.heappop(self.queue)
                    sid = item[1]
                    self.queued.discard(sid)
                    if self._ready(sid, now):
                        self._start(sid)
                    elif self.steps[sid].state == "retry_wait" and sid not in self.running:
                        waiting.append(item)
        except BaseException:
            for a in self.running.values():  # no go-ahead: commands the log may not name
                if a.go_w is not None:
                    os.close(a.go_w)
                    a.go_w = None
            raise
        finally:
            for item in waiting:
                self._queue(item[1])

    def _start(self, sid: str) -> None:
        step, s = self.wf.step(sid), self.steps[sid]
        attempt = s.attempts + 1  # the highest number the log ever used, plus one
        out = outputs.attempt_output(self.state_dir, sid, attempt)
        _remove_stale(out)
        env = dict(self._env, ENGINE_STEP_ID=sid, ENGINE_ATTEMPT=str(attempt),
                   ENGINE_STATE_DIR=self.state_dir, ENGINE_OUTPUT=out)
        log_path = os.path.join(self.state_dir, "logs", f"{outputs.file_key(sid)}.{attempt}.log")
        proc, go_w = supervisor.spawn(step.command, env, log_path)
        try:  # the child leads its own group, so its pid is also its pgid
            self.log.append("STEP_STARTED", step=sid, attempt=attempt, pid=proc.pid, pgid=proc.pid)
        except BaseException:
            os.close(go_w)  # no go-ahead: the command the log does not name never runs
            supervisor.end_group(proc.pid, proc)
            raise
        s.state, s.attempts, s.started = "running", attempt, s.started + 1
        self.due.pop(sid, None)
        deadline = time.monotonic() + step.timeout_s if step.timeout_s is not None else None
        self.running[sid] = Attempt(sid, attempt, proc, deadline, go_w=go_w)
        self.log.after_durable(lambda: self._go(sid))  # outside a group: at once

    def _go(self, sid: str) -> None:
        """The go-ahead of a started attempt, once its STEP_STARTED is durable."""
        a = self.running.get(sid)
        if a is not None and a.go_w is not None:
            supervisor.go_ahead(a.go_w)
            a.go_w = None

    def _enforce_timeouts(self, now: float) -> None:
        for a in self.running.values():
            if a.returncode is not None:
                continue  # its leader is gone and its group was already SIGKILLed
            if a.term_at is None and a.deadline is not None and now >= a.deadline:
                a.timed_out, a.term_at = True, now
                supervisor.signal_group(a.pgid, signal.SIGTERM)
            elif a.term_at is not None and not a.killed and now >= a.term_at + supervisor.KILL_AFTER_S:
                a.killed = True  # whatever the leader did: grandchildren may ignore SIGTERM
                supervisor.signal_group(a.pgid, signal.SIGKILL)

    def _reap(self, now: float) -> None:
        """Record every attempt that has ended: one group commit for all of them."""
        with self.log.group():
            self._reap_each(now)

    def _reap_each(self, now: float) -> None:
        for sid, a in list(self.running.items()):
            if a.returncode is None:
                rc = a.proc.poll()
                if rc is None:
                    continue
                a.returncode, a.exited_at, a.killed = rc, now, True
                supervisor.signal_group(a.pgid, signal.SIGKILL)  # nothing it spawned outlives it
            waited = now - (a.exited_at or now)
            if supervisor.group_alive(a.pgid) and waited < supervisor.GONE_WAIT_S:
                continue  # the attempt ends when its whole group has
            del self.running[sid]
            self._record_end(a)

    def _record_end(self, a: Attempt) -> None:
        s = self.steps[a.step]
        if a.returncode == 0 and not a.timed_out:
            self.log.append("STEP_SUCCEEDED", step=a.step, attempt=a.attempt)
            s.state, s.succeeded_attempt = "succeeded", a.attempt
            self.log.after_durable(  # only once success is durable
                lambda: outputs.publish(self.state_dir, a.step, a.attempt))
            self.log.after_durable(lambda: self._succeeded(a.step))  # dependents may start
            return
        self.log.append("STEP_FAILED", step=a.step, attempt=a.attempt, **_failure(a))
        s.state, s.failures = "failed", s.failures + 1
        self._schedule_retry(a.step)

    def _schedule_retry(self, sid: str) -> None:
        """After a counted failure: a retry after the backoff, or the step failed for good."""
        s, retry = self.steps[sid], self.wf.step(sid).retry
        if s.failures >= retry.max_attempts:
            return
        delay = retry.delay(s.failures)
        self.log.append("STEP_RETRY_SCHEDULED", step=sid, attempt=s.attempts + 1, delay_s=delay)
        s.state = "retry_wait"
        self.due[sid] = time.monotonic() + delay
        self.log.after_durable(lambda: self._queue(sid))  # the next attempt acts on it

    def _next_deadline(self, now: float) -> float | None:
        """Seconds until the loop has something to do that no signal will announce."""
        times = [t for sid, t in self.due.items() if t > now and sid not in self.running]
        for a in self.running.values():
            if a.returncode is not None:
                times.append(now + supervisor.POLL_S)  # grandchildren send us no SIGCHLD
            elif a.term_at is not None and not a.killed:
                times.append(a.term_at + supervisor.KILL_AFTER_S)
            elif a.deadline is not None and a.term_at is None:
                times.append(a.deadline)
        return min(MAX_WAIT_S, max(0.0, min(times) - now)) if times else None

    def _finish(self) -> int:
        ok = all(s.state == "succeeded" for s in self.steps.values())
        self.log.append("WORKFLOW_SUCCEEDED" if ok else "WORKFLOW_FAILED")
        return 0 if ok else 1

    def _shutdown(self) -> int:
        """End every running group (TERM, then KILL) and exit; resume marks them lost."""
        attempts = list(self.running.values())
        for a in attempts:
            supervisor.signal_group(a.pgid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TERM_S
        while time.monotonic() < deadline and any(
                a.proc.poll() is None or supervisor.group_alive(a.pgid) for a in attempts):
            self._wait(min(supervisor.POLL_S, max(0.0, deadline - time.monotonic())))
        self._kill_all()
        return 128 + self.stop_signal

    def _kill_all(self) -> None:
        attempts = list(self.running.values())
        supervisor.end_groups([a.pgid for a in attempts], [a.proc for a in attempts])
