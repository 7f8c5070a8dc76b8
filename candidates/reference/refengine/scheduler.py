"""The scheduler: a single-threaded, non-blocking event loop over the workflow's steps.

Properties kept on purpose:
- Persist, then apply: every decision is written to the log (durably) before the
  in-memory state changes or any process is told to run.
- Nothing blocks the loop. Backoffs, timeouts and kill escalations are deadlines; the
  loop sleeps in select() on a self-pipe woken by SIGCHLD/SIGTERM/SIGINT, never longer
  than the nearest deadline, so one step's backoff never stalls another step.
- At most max_parallel attempts run; a step starts only when its dependencies have
  succeeded; a step whose dependency failed for good never starts.
"""

from __future__ import annotations

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


class Scheduler:
    def __init__(self, wf: Workflow, state_dir: str, log: EventLog,
                 steps: dict[str, StepState]) -> None:
        self.wf, self.state_dir, self.log = wf, state_dir, log
        self.steps = {s.id: steps.get(s.id, StepState()) for s in wf.steps}
        self.running: dict[str, Attempt] = {}
        self.due: dict[str, float] = {}  # step -> monotonic time its retry may start
        self.stop_signal = 0
        now_wall, now = time.time(), time.monotonic()
        for sid, s in self.steps.items():
            if s.state == "retry_wait" and s.retry_due_ts is not None:
                self.due[sid] = now + max(0.0, s.retry_due_ts - now_wall)

    def run(self) -> int:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        while True:
            if self.stop_signal:
                return self._shutdown()
            now = time.monotonic()
            self._reap(now)
            self._enforce_timeouts(now)
            self._start_ready(now)
            if not self.running and not self._can_progress():
                return self._finish()
            timeout = self._next_deadline(time.monotonic())
            ready, _, _ = select.select([wake_r], [], [], timeout)
            if ready:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signum

    def _blocked(self, sid: str) -> bool:
        """True when a dependency (transitively) failed for good."""
        return any(self.steps[d].state == "failed" or self._blocked(d)
                   for d in self.wf.step(sid).depends_on)

    def _ready(self, sid: str, now: float) -> bool:
        s = self.steps[sid]
        if sid in self.running or s.state not in ("pending", "retry_wait"):
            return False
        if s.state == "retry_wait" and self.due.get(sid, 0.0) > now:
            return False
        return all(self.steps[d].state == "succeeded" for d in self.wf.step(sid).depends_on)

    def _can_progress(self) -> bool:
        return any(s.state in ("pending", "retry_wait") and not self._blocked(sid)
                   for sid, s in self.steps.items())

    def _start_ready(self, now: float) -> None:
        for step in self.wf.steps:
            if len(self.running) >= self.wf.max_parallel:
                return
            if self._ready(step.id, now):
                self._start(step.id)

    def _start(self, sid: str) -> None:
        step, s = self.wf.step(sid), self.steps[sid]
        attempt = s.attempts + 1
        out = outputs.attempt_output(self.state_dir, sid, attempt)
        if os.path.lexists(out):
            os.unlink(out)
        env = dict(os.environ, ENGINE_STEP_ID=sid, ENGINE_ATTEMPT=str(attempt),
                   ENGINE_STATE_DIR=self.state_dir, ENGINE_OUTPUT=out)
        log_path = os.path.join(self.state_dir, "logs", f"{sid.encode().hex()}.{attempt}.log")
        proc, go_w = supervisor.spawn(step.command, env, log_path)
        try:
            self.log.append("STEP_STARTED", step=sid, attempt=attempt, pid=proc.pid, pgid=proc.pid)
        except BaseException:
            supervisor.end_group(proc.pid, proc)  # never run a command the log does not name
            raise
        s.state, s.attempts = "running", attempt
        deadline = time.monotonic() + step.timeout_s if step.timeout_s else None
        self.running[sid] = Attempt(sid, attempt, proc, deadline)
        supervisor.go_ahead(go_w)

    def _enforce_timeouts(self, now: float) -> None:
        for a in self.running.values():
            if a.deadline is not None and now >= a.deadline and a.term_at is None:
                a.timed_out, a.term_at = True, now
                supervisor.signal_group(a.pgid, signal.SIGTERM)
            elif a.term_at is not None and now >= a.term_at + supervisor.KILL_AFTER_S:
                supervisor.signal_group(a.pgid, signal.SIGKILL)

    def _reap(self, now: float) -> None:
        for sid, a in list(self.running.items()):
            if a.returncode is None:
                rc = a.proc.poll()
                if rc is None:
                    continue
                a.returncode, a.exited_at = rc, now
                supervisor.signal_group(a.pgid, signal.SIGKILL)  # leave nothing behind
            gone = not supervisor.group_alive(a.pgid)
            if gone or now - (a.exited_at or now) > supervisor.GONE_WAIT_S:
                del self.running[sid]
                self._record_end(a)

    def _record_end(self, a: Attempt) -> None:
        s, rc = self.steps[a.step], a.returncode
        if rc == 0 and not a.timed_out:
            self.log.append("STEP_SUCCEEDED", step=a.step, attempt=a.attempt)
            s.state, s.succeeded_attempt = "succeeded", a.attempt
            outputs.publish(self.state_dir, a.step, a.attempt)
            return
        if a.timed_out:
            detail: dict[str, Any] = {"reason": "timeout"}
        elif rc is not None and rc < 0:
            detail = {"reason": "signal", "signal": -rc}
        else:
            detail = {"reason": "exit", "exit_code": rc}
        self.log.append("STEP_FAILED", step=a.step, attempt=a.attempt, **detail)
        s.state, s.failures = "failed", s.failures + 1
        retry = self.wf.step(a.step).retry
        if s.failures < retry.max_attempts:
            delay = retry.delay(s.failures)
            self.log.append("STEP_RETRY_SCHEDULED", step=a.step, attempt=a.attempt + 1,
                            delay_s=delay)
            s.state = "retry_wait"
            self.due[a.step] = time.monotonic() + delay

    def _next_deadline(self, now: float) -> float | None:
        times = [t for t in self.due.values() if t > now]
        for a in self.running.values():
            if a.returncode is not None:
                times.append(now + 0.01)  # waiting for its group to disappear
            elif a.term_at is not None:
                times.append(a.term_at + supervisor.KILL_AFTER_S)
            elif a.deadline is not None:
                times.append(a.deadline)
        return max(0.0, min(times) - now) if times else None

    def _finish(self) -> int:
        ok = all(s.state == "succeeded" for s in self.steps.values())
        self.log.append("WORKFLOW_SUCCEEDED" if ok else "WORKFLOW_FAILED")
        return 0 if ok else 1

    def _shutdown(self) -> int:
        """End every running group (TERM, then KILL) and exit; resume marks them lost."""
        for a in self.running.values():
            supervisor.signal_group(a.pgid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TERM_S
        while time.monotonic() < deadline and any(
                a.proc.poll() is None or supervisor.group_alive(a.pgid)
                for a in self.running.values()):
            time.sleep(0.02)
        for a in self.running.values():
            supervisor.end_group(a.pgid, a.proc)
        return 128 + self.stop_signal
