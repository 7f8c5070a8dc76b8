"""The scheduler: replays the log into state, then runs the workflow to completion.

All state changes go through `_emit_event`, which persists the event and only then
applies it, so the in-memory state never gets ahead of the log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from wfengine import events as ev
from wfengine.events import Event
from wfengine.executor import TERMINATE_GRACE_S, Executor, RunningStep
from wfengine.store import EventStore
from wfengine.workflow import Workflow

log = logging.getLogger("wfengine")

POLL_INTERVAL_S = 0.05


@dataclass
class StepState:
    status: str = "pending"  # pending | running | succeeded | failed | retry_wait
    attempts: int = 0  # highest attempt number started
    failures: int = 0  # failed attempts, lost ones excluded
    succeeded_attempt: Optional[int] = None
    next_attempt: Optional[int] = None


class WorkflowState:
    """The state the event log implies."""

    def __init__(self, workflow: Workflow) -> None:
        self.steps: Dict[str, StepState] = {sid: StepState() for sid in workflow.steps}
        self.finished: Optional[str] = None
        self.running: Dict[str, int] = {}  # step -> attempt the log shows running

    def apply(self, event: Event) -> None:
        t = event.type
        if t in ev.TERMINAL_TYPES:
            self.finished = t
            return
        if event.step is None:
            return
        s = self.steps[event.step]
        if t == ev.STEP_STARTED:
            s.status, s.attempts, s.next_attempt = "running", max(s.attempts, event.attempt), None
            self.running[event.step] = event.attempt
        elif t == ev.STEP_SUCCEEDED:
            s.status, s.succeeded_attempt = "succeeded", event.attempt
            self.running.pop(event.step, None)
        elif t == ev.STEP_FAILED:
            self.running.pop(event.step, None)
            if event.data.get("reason") == "lost":
                s.status = "pending"
            else:
                s.status, s.failures = "failed", s.failures + 1
        elif t == ev.STEP_RETRY_SCHEDULED:
            s.status, s.next_attempt = "retry_wait", event.attempt


class Scheduler:
    def __init__(self, workflow: Workflow, state_dir: str, store: EventStore) -> None:
        self.workflow = workflow
        self.state_dir = state_dir
        self.store = store
        self.state = WorkflowState(workflow)
        self.executor = Executor(state_dir)
        self.running: Dict[str, RunningStep] = {}
        self.stop_signal: Optional[int] = None

    # -- events --------------------------------------------------------------

    def _emit_event(self, etype: str, **data: object) -> Event:
        """Persist the event, then apply it to the in-memory state."""
        event = self.store.append(Event(type=etype, data=dict(data)))
        self.state.apply(event)
        return event

    def replay(self, history: List[Event]) -> None:
        for event in history:
            self.state.apply(event)

    # -- recovery ------------------------------------------------------------

    def recover(self) -> None:
        """Record attempts the previous run left running as lost; publish pending outputs."""
        self._emit_event(ev.WORKFLOW_RESUMED)
        for step, attempt in sorted(self.state.running.items()):
            self._emit_event(ev.STEP_FAILED, step=step, attempt=attempt, reason="lost")
        for sid, s in self.state.steps.items():
            if s.status == "succeeded" and s.succeeded_attempt is not None:
                self._publish(sid, s.succeeded_attempt)

    def _publish(self, step: str, attempt: int) -> None:
        target = os.path.join(self.state_dir, "outputs", step)
        source = self.executor.output_path(step, attempt)
        if os.path.exists(target) or not os.path.exists(source):
            return
        tmp = os.path.join(self.state_dir, "work", f".{step}.publish")
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)

    # -- scheduling ----------------------------------------------------------

    def _ready_steps(self) -> List[str]:
        ready = []
        for sid, step in self.workflow.steps.items():
            s = self.state.steps[sid]
            if sid in self.running or s.status not in ("pending", "retry_wait"):
                continue
            if all(self.state.steps[d].status == "succeeded" for d in step.depends_on):
                ready.append(sid)
        return ready

    def _start(self, sid: str) -> None:
        step = self.workflow.steps[sid]
        s = self.state.steps[sid]
        attempt = s.next_attempt or s.attempts + 1
        running = self.executor.spawn(sid, attempt, step.command, step.timeout_s)
        self.running[sid] = running
        pid = running.process.pid
        self._emit_event(ev.STEP_STARTED, step=sid, attempt=attempt, pid=pid,
                         pgid=self.executor.pgid_of(pid))
        log.info("started %s attempt %d (pid %d)", sid, attempt, pid)

    def _on_exit(self, running: RunningStep, code: int) -> None:
        sid, attempt = running.step, running.attempt
        del self.running[sid]
        if code == 0 and not running.timed_out:
            self._emit_event(ev.STEP_SUCCEEDED, step=sid, attempt=attempt)
            self._publish(sid, attempt)
            return
        if running.timed_out:
            self._emit_event(ev.STEP_FAILED, step=sid, attempt=attempt, reason="timeout")
        elif code < 0:
            self._emit_event(ev.STEP_FAILED, step=sid, attempt=attempt, reason="signal",
                             signal=-code)
        else:
            self._emit_event(ev.STEP_FAILED, step=sid, attempt=attempt, reason="exit",
                             exit_code=code)
        s = self.state.steps[sid]
        retry = self.workflow.steps[sid].retry
        if s.failures < retry.max_attempts:
            delay = retry.delay_for(s.failures)
            self._emit_event(ev.STEP_RETRY_SCHEDULED, step=sid, attempt=s.attempts + 1,
                             delay_s=delay)
            log.info("retrying %s in %.2fs", sid, delay)
            time.sleep(delay)

    def _check_processes(self) -> None:
        now = time.monotonic()
        for running in list(self.running.values()):
            code = running.process.poll()
            if code is not None:
                self._on_exit(running, code)
                continue
            if running.deadline is not None and now >= running.deadline and not running.timed_out:
                log.warning("step %s timed out", running.step)
                running.timed_out = True
                self.executor.terminate(running)
            elif running.timed_out and running.terminated_at is not None \
                    and now - running.terminated_at >= TERMINATE_GRACE_S:
                self.executor.kill(running)

    def _blocked(self, sid: str) -> bool:
        for dep in self.workflow.steps[sid].depends_on:
            if self.state.steps[dep].status == "failed" or self._blocked(dep):
                return True
        return False

    def _outcome(self) -> Optional[str]:
        if self.running:
            return None
        statuses = [s.status for s in self.state.steps.values()]
        if all(st == "succeeded" for st in statuses):
            return ev.WORKFLOW_SUCCEEDED
        for sid, s in self.state.steps.items():
            if s.status in ("pending", "retry_wait") and not self._blocked(sid):
                return None
        return ev.WORKFLOW_FAILED

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_signal = signum

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        while True:
            if self.stop_signal is not None:
                log.warning("signal %d: stopping running steps", self.stop_signal)
                self.executor.stop_all(self.running)
                return 128 + self.stop_signal
            self._check_processes()
            if self.stop_signal is None:
                for sid in self._ready_steps():
                    if len(self.running) >= self.workflow.max_parallel:
                        break
                    self._start(sid)
            outcome = self._outcome()
            if outcome is not None:
                self._emit_event(outcome)
                return 0 if outcome == ev.WORKFLOW_SUCCEEDED else 1
            time.sleep(POLL_INTERVAL_S)
