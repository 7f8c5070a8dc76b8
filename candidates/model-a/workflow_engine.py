#!/usr/bin/env python3
"""
Event-Sourced Workflow Engine
=============================

A workflow engine that executes a DAG of steps as subprocesses, persisting every state
transition as an event in an append-only JSONL log.

Features:
    * Typed events (dataclasses) with JSON serialization
    * A single state owner (WorkflowEngine) driving an event loop
    * Each step runs in its own process group; timeouts kill the whole group
    * Retries with exponential backoff, scheduled without blocking the loop
    * Crash recovery by replaying the event log
    * Exclusive lock on the state directory (fcntl.flock)
    * Atomic output publication (os.replace)

Usage:
    python3 workflow_engine.py run WORKFLOW_JSON STATE_DIR
    python3 workflow_engine.py status STATE_DIR
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s",
                    stream=sys.stderr)
logger = logging.getLogger("workflow_engine")

EVENT_LOG = "events.jsonl"
LOCK_FILE = ".lock"
POLL_INTERVAL = 0.05
KILL_GRACE_PERIOD = 2.0


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

@dataclass
class Event:
    ts: float = field(default_factory=time.time)


@dataclass
class WorkflowStartedEvent(Event):
    workflow: str = ""
    digest: str = ""


@dataclass
class WorkflowResumedEvent(Event):
    pass


@dataclass
class StepStartedEvent(Event):
    step: str = ""
    attempt: int = 0
    pid: int = 0
    pgid: int = 0


@dataclass
class StepSucceededEvent(Event):
    step: str = ""
    attempt: int = 0


@dataclass
class StepFailedEvent(Event):
    step: str = ""
    attempt: int = 0
    reason: str = "exit"
    exit_code: Optional[int] = None
    signal: Optional[int] = None


@dataclass
class StepRetryScheduledEvent(Event):
    step: str = ""
    attempt: int = 0
    delay_s: float = 0.0


@dataclass
class WorkflowSucceededEvent(Event):
    pass


@dataclass
class WorkflowFailedEvent(Event):
    pass


EVENT_TYPES = {
    "WORKFLOW_STARTED": WorkflowStartedEvent,
    "WORKFLOW_RESUMED": WorkflowResumedEvent,
    "STEP_STARTED": StepStartedEvent,
    "STEP_SUCCEEDED": StepSucceededEvent,
    "STEP_FAILED": StepFailedEvent,
    "STEP_RETRY_SCHEDULED": StepRetryScheduledEvent,
    "WORKFLOW_SUCCEEDED": WorkflowSucceededEvent,
    "WORKFLOW_FAILED": WorkflowFailedEvent,
}


def event_to_dict(e: Event) -> Dict[str, Any]:
    """Serialize an event to a JSON-compatible dict."""
    d = {"type": e.__class__.__name__.replace("Event", "").upper()}
    d.update({k: v for k, v in asdict(e).items() if v is not None})
    return d


def dict_to_event(d: Dict[str, Any]) -> Event:
    """Deserialize an event from a dict."""
    event_type = d.get("type")
    cls = EVENT_TYPES.get(event_type)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"Unknown event type: {event_type}")
    fields = {k: v for k, v in d.items() if k != "type"}
    return cls(**fields)


# ---------------------------------------------------------------------------
# Event store
# ---------------------------------------------------------------------------

class EventStore:
    """Append-only JSONL event log."""

    def __init__(self, path: str):
        self.path = path
        self._file = open(path, "w", encoding="utf-8")
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, event: Event) -> None:
        line = json.dumps(event_to_dict(event)) + "\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def read_all(path: str) -> List[Event]:
        """Read every complete event; a torn final line (no newline) is ignored."""
        events: List[Event] = []
        with open(path, "r", encoding="utf-8") as f:
            lines = f.readlines()
        for i, line in enumerate(lines):
            if i == len(lines) - 1 and not line.endswith("\n"):
                logger.warning("ignoring torn final line in %s", path)
                break
            line = line.strip()
            if not line:
                continue
            events.append(dict_to_event(json.loads(line)))
        return events


# ---------------------------------------------------------------------------
# Workflow definition
# ---------------------------------------------------------------------------

class ValidationError(Exception):
    pass


@dataclass
class RetryPolicy:
    max_attempts: int = 1
    backoff_s: float = 0.0
    multiplier: float = 2.0
    max_backoff_s: float = 60.0

    def delay(self, failures: int) -> float:
        try:
            raw = self.backoff_s * self.multiplier ** (failures - 1)
        except OverflowError:
            raw = math.inf
        return min(raw, self.max_backoff_s)


@dataclass
class StepSpec:
    id: str
    command: List[str]
    depends_on: List[str] = field(default_factory=list)
    timeout_s: Optional[float] = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class WorkflowSpec:
    name: str
    max_parallel: int
    steps: Dict[str, StepSpec]
    digest: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v)))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_workflow(path: str) -> WorkflowSpec:
    """Load and validate a workflow file. Raises ValidationError."""
    with open(path, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise ValidationError(f"not valid JSON: {e}")

    if not isinstance(doc, dict):
        raise ValidationError("workflow: must be a JSON object")
    unknown = set(doc) - {"name", "max_parallel", "steps"}
    if unknown:
        raise ValidationError(f"workflow: unknown key {sorted(unknown)[0]!r}")
    if "name" not in doc:
        raise ValidationError("workflow: missing required key 'name'")
    if not isinstance(doc["name"], str):
        raise ValidationError("name: must be a string")
    max_parallel = doc.get("max_parallel", 4)
    if not _is_int(max_parallel) or max_parallel < 1:
        raise ValidationError("max_parallel: must be an integer >= 1")
    if "steps" not in doc:
        raise ValidationError("workflow: missing required key 'steps'")
    if not isinstance(doc["steps"], list):
        raise ValidationError("steps: must be a list")

    steps: Dict[str, StepSpec] = {}
    for i, s in enumerate(doc["steps"]):
        where = f"steps[{i}]"
        if not isinstance(s, dict):
            raise ValidationError(f"{where}: must be an object")
        unknown = set(s) - {"id", "command", "depends_on", "timeout_s", "retry"}
        if unknown:
            raise ValidationError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        for key in ("id", "command"):
            if key not in s:
                raise ValidationError(f"{where}: missing required key {key!r}")
        if not isinstance(s["id"], str):
            raise ValidationError(f"{where}.id: must be a string")
        if s["id"] in steps:
            raise ValidationError(f"{where}.id: duplicate step id {s['id']!r}")
        cmd = s["command"]
        if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
            raise ValidationError(f"{where}.command: must be a list of strings")
        if not cmd:
            raise ValidationError(f"{where}.command: must not be empty")
        deps = s.get("depends_on", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise ValidationError(f"{where}.depends_on: must be a list of strings")
        timeout = s.get("timeout_s")
        if "timeout_s" in s and (not _is_number(timeout) or timeout <= 0):
            raise ValidationError(f"{where}.timeout_s: must be a number > 0")
        retry_doc = s.get("retry", {})
        if not isinstance(retry_doc, dict):
            raise ValidationError(f"{where}.retry: must be an object")
        unknown = set(retry_doc) - {"max_attempts", "backoff_s", "multiplier", "max_backoff_s"}
        if unknown:
            raise ValidationError(f"{where}.retry: unknown key {sorted(unknown)[0]!r}")
        policy = RetryPolicy()
        if "max_attempts" in retry_doc:
            v = retry_doc["max_attempts"]
            if not _is_int(v) or v < 1:
                raise ValidationError(f"{where}.retry.max_attempts: must be an integer >= 1")
            policy.max_attempts = v
        for key, low in (("backoff_s", 0), ("multiplier", 1), ("max_backoff_s", 0)):
            if key in retry_doc:
                v = retry_doc[key]
                if not _is_number(v) or v < low:
                    raise ValidationError(f"{where}.retry.{key}: must be a number >= {low}")
                setattr(policy, key, float(v))
        steps[s["id"]] = StepSpec(s["id"], list(cmd), list(deps),
                                  float(timeout) if timeout is not None else None, policy)

    for sid, spec in steps.items():
        for d in spec.depends_on:
            if d not in steps:
                raise ValidationError(f"step {sid!r}: depends_on names unknown step {d!r}")
    _check_cycles(steps)
    return WorkflowSpec(doc["name"], max_parallel, steps, digest)


def _check_cycles(steps: Dict[str, StepSpec]) -> None:
    WHITE, GREY, BLACK = 0, 1, 2
    color = {sid: WHITE for sid in steps}

    def visit(sid: str) -> None:
        color[sid] = GREY
        for d in steps[sid].depends_on:
            if color[d] == GREY:
                raise ValidationError(f"dependency cycle through step {d!r}")
            if color[d] == WHITE:
                visit(d)
        color[sid] = BLACK

    for sid in steps:
        if color[sid] == WHITE:
            visit(sid)


# ---------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------

PENDING, RUNNING, RETRY_WAIT, SUCCEEDED, FAILED = (
    "pending", "running", "retry_wait", "succeeded", "failed")


@dataclass
class StepState:
    state: str = PENDING
    attempts: int = 0
    failures: int = 0
    retry_at: Optional[float] = None
    next_attempt: Optional[int] = None


@dataclass
class RunningAttempt:
    step: str
    attempt: int
    proc: subprocess.Popen
    pgid: int
    started: float
    output: str
    killed_at: Optional[float] = None
    timed_out: bool = False


class WorkflowEngine:
    """Owns all workflow state and drives the execution loop."""

    def __init__(self, workflow: WorkflowSpec, state_dir: str):
        self.workflow = workflow
        self.state_dir = os.path.abspath(state_dir)
        self.log_path = os.path.join(self.state_dir, EVENT_LOG)
        self.steps: Dict[str, StepState] = {sid: StepState() for sid in workflow.steps}
        self.running: Dict[str, RunningAttempt] = {}
        self.resumed = False
        self.shutdown_signal: Optional[int] = None
        self.store: Optional[EventStore] = None

    # -- state -----------------------------------------------------------

    def _load_state(self) -> None:
        """Rebuild step state by replaying the event log, if one exists."""
        if not os.path.exists(self.log_path):
            return
        try:
            events = EventStore.read_all(self.log_path)
        except Exception:
            logger.exception("Failed to replay event log; starting from a clean state")
            return
        if events and isinstance(events[0], WorkflowStartedEvent):
            if events[0].digest != self.workflow.digest:
                raise ValidationError("workflow file changed since the log was started")
        self.replay(events)
        self.resumed = bool(events)

    def replay(self, events: List[Event]) -> None:
        """Apply logged events in order to rebuild the in-memory state."""
        for event in events:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        if isinstance(event, StepStartedEvent):
            st = self.steps[event.step]
            st.state, st.attempts = RUNNING, max(st.attempts, event.attempt)
        elif isinstance(event, StepSucceededEvent):
            self.steps[event.step].state = SUCCEEDED
        elif isinstance(event, StepFailedEvent):
            st = self.steps[event.step]
            if event.reason == "lost":
                st.state = PENDING
            else:
                st.state, st.failures = FAILED, st.failures + 1
        elif isinstance(event, StepRetryScheduledEvent):
            st = self.steps[event.step]
            st.state, st.retry_at = RETRY_WAIT, event.ts + event.delay_s
            st.next_attempt = event.attempt

    def _emit(self, event: Event) -> None:
        assert self.store is not None
        self.store.append(event)

    # -- processes ---------------------------------------------------------

    def _spawn(self, sid: str) -> None:
        spec = self.workflow.steps[sid]
        st = self.steps[sid]
        attempt = st.next_attempt or st.attempts + 1
        output = os.path.join(self.state_dir, "work", f"{sid}.{attempt}.out")
        if os.path.exists(output):
            os.unlink(output)
        env = dict(os.environ)
        env.update({"ENGINE_STEP_ID": sid, "ENGINE_ATTEMPT": str(attempt),
                    "ENGINE_STATE_DIR": self.state_dir, "ENGINE_OUTPUT": output})
        log_base = os.path.join(self.state_dir, "logs", f"{sid}.{attempt}")
        with open(log_base + ".stdout", "wb") as out, open(log_base + ".stderr", "wb") as err:
            proc = subprocess.Popen(spec.command, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        pgid = os.getpgid(proc.pid)
        st.state, st.attempts, st.retry_at, st.next_attempt = RUNNING, attempt, None, None
        self.running[sid] = RunningAttempt(sid, attempt, proc, pgid, time.monotonic(), output)
        self._emit(StepStartedEvent(step=sid, attempt=attempt, pid=proc.pid, pgid=pgid))
        logger.info("started %s (attempt %d, pid %d)", sid, attempt, proc.pid)

    def _killpg(self, pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _group_alive(self, pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def _end_group(self, pgid: int) -> None:
        """SIGTERM the group, then SIGKILL it if anything is left after the grace period."""
        self._killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_PERIOD
        while time.monotonic() < deadline and self._group_alive(pgid):
            time.sleep(POLL_INTERVAL)
        self._killpg(pgid, signal.SIGKILL)

    def _ready(self, sid: str) -> bool:
        st = self.steps[sid]
        if st.state == PENDING:
            pass
        elif st.state == RETRY_WAIT:
            if st.retry_at is None or time.time() < st.retry_at:
                return False
        else:
            return False
        deps = self.workflow.steps[sid].depends_on
        return all(self.steps[d].state == SUCCEEDED for d in deps)

    def _start_ready_steps(self) -> None:
        if self.shutdown_signal is not None:
            return
        for sid in self.workflow.steps:
            if len(self.running) >= self.workflow.max_parallel:
                return
            if sid not in self.running and self._ready(sid):
                self._spawn(sid)

    def _publish(self, run: RunningAttempt) -> None:
        target = os.path.join(self.state_dir, "outputs", run.step)
        if os.path.exists(run.output) and not os.path.exists(target):
            os.replace(run.output, target)

    def _on_exit(self, run: RunningAttempt, returncode: int) -> None:
        sid = run.step
        del self.running[sid]
        self._killpg(run.pgid, signal.SIGKILL)  # nothing the step spawned outlives it
        st = self.steps[sid]
        if returncode == 0 and not run.timed_out:
            st.state = SUCCEEDED
            self._publish(run)
            self._start_ready_steps()
            self._emit(StepSucceededEvent(step=sid, attempt=run.attempt))
            logger.info("step %s succeeded", sid)
            return
        if run.timed_out:
            failed = StepFailedEvent(step=sid, attempt=run.attempt, reason="timeout")
        elif returncode < 0:
            failed = StepFailedEvent(step=sid, attempt=run.attempt, reason="signal",
                                     signal=-returncode)
        else:
            failed = StepFailedEvent(step=sid, attempt=run.attempt, reason="exit",
                                     exit_code=returncode)
        self._emit(failed)
        st.failures += 1
        policy = self.workflow.steps[sid].retry
        if st.failures < policy.max_attempts:
            delay = policy.delay(st.failures)
            event = StepRetryScheduledEvent(step=sid, attempt=run.attempt + 1, delay_s=delay)
            self._emit(event)
            st.state, st.retry_at, st.next_attempt = RETRY_WAIT, event.ts + delay, run.attempt + 1
            logger.info("step %s failed; retry in %.2fs", sid, delay)
        else:
            st.state = FAILED
            logger.info("step %s failed for good", sid)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for run in list(self.running.values()):
            timeout = self.workflow.steps[run.step].timeout_s
            if timeout is None:
                continue
            if run.killed_at is None and now - run.started >= timeout:
                logger.warning("step %s timed out after %.1fs", run.step, timeout)
                run.timed_out, run.killed_at = True, now
                self._killpg(run.pgid, signal.SIGTERM)
            elif run.killed_at is not None and now - run.killed_at >= KILL_GRACE_PERIOD:
                self._killpg(run.pgid, signal.SIGKILL)

    def _reap(self) -> None:
        for run in list(self.running.values()):
            returncode = run.proc.poll()
            if returncode is not None:
                self._on_exit(run, returncode)

    def _blocked(self, sid: str) -> bool:
        """True if a step can never run because a dependency failed for good."""
        return any(self.steps[d].state == FAILED or self._blocked(d)
                   for d in self.workflow.steps[sid].depends_on)

    def _finished(self) -> Optional[bool]:
        if self.running:
            return None
        states = [st.state for st in self.steps.values()]
        if all(s == SUCCEEDED for s in states):
            return True
        for sid, st in self.steps.items():
            if st.state in (PENDING, RETRY_WAIT) and not self._blocked(sid):
                return None
        return False

    def _handle_signal(self, signum: int, frame: Any) -> None:
        self.shutdown_signal = signum

    def _shutdown(self) -> int:
        signum = self.shutdown_signal or signal.SIGTERM
        logger.warning("received signal %d; stopping", signum)
        for run in self.running.values():
            self._killpg(run.pgid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_PERIOD
        while time.monotonic() < deadline and any(
                self._group_alive(r.pgid) for r in self.running.values()):
            time.sleep(POLL_INTERVAL)
        for run in self.running.values():
            self._killpg(run.pgid, signal.SIGKILL)
            try:
                run.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        return 128 + signum

    # -- main entry --------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._handle_signal)
        signal.signal(signal.SIGINT, self._handle_signal)
        for sub in ("work", "logs", "outputs"):
            os.makedirs(os.path.join(self.state_dir, sub), exist_ok=True)
        self._load_state()
        self.store = EventStore(self.log_path)
        if self.resumed:
            self._emit(WorkflowResumedEvent())
        else:
            self._emit(WorkflowStartedEvent(workflow=self.workflow.name,
                                            digest=self.workflow.digest))
        try:
            while True:
                if self.shutdown_signal is not None:
                    return self._shutdown()
                self._reap()
                self._check_timeouts()
                self._start_ready_steps()
                done = self._finished()
                if done is True:
                    self._emit(WorkflowSucceededEvent())
                    logger.info("workflow %s succeeded", self.workflow.name)
                    return 0
                if done is False:
                    self._emit(WorkflowFailedEvent())
                    logger.info("workflow %s failed", self.workflow.name)
                    return 1
                time.sleep(POLL_INTERVAL)
        finally:
            self.store.close()


# ---------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------

def get_status(state_dir: str) -> Dict[str, Any]:
    """Rebuild the workflow status from the event log."""
    path = os.path.join(state_dir, EVENT_LOG)
    events = EventStore.read_all(path)
    status: Dict[str, Any] = {"workflow": "pending" if not events else "running",
                              "last_seq": len(events), "steps": {}}
    for event in events:
        if isinstance(event, WorkflowSucceededEvent):
            status["workflow"] = "succeeded"
        elif isinstance(event, WorkflowFailedEvent):
            status["workflow"] = "failed"
        step = getattr(event, "step", None)
        if step is None:
            continue
        entry = status["steps"].setdefault(step, {"state": "pending", "attempts": 0})
        if isinstance(event, StepStartedEvent):
            entry["state"] = "running"
            entry["attempts"] += 1
        elif isinstance(event, StepSucceededEvent):
            entry["state"] = "succeeded"
        elif isinstance(event, StepRetryScheduledEvent):
            entry["state"] = "retry_wait"
        elif isinstance(event, StepFailedEvent):
            entry["state"] = "pending" if event.reason == "lost" else "failed"
    return status


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def acquire_lock(state_dir: str) -> Optional[int]:
    fd = os.open(os.path.join(state_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def cmd_run(workflow_path: str, state_dir: str) -> int:
    try:
        workflow = load_workflow(workflow_path)
    except ValidationError as e:
        logger.error("invalid workflow: %s", e)
        return 2
    except OSError as e:
        logger.error("cannot read workflow: %s", e)
        return 2
    try:
        os.makedirs(state_dir, exist_ok=True)
    except OSError as e:
        logger.error("cannot create state dir: %s", e)
        return 2
    lock_fd = acquire_lock(state_dir)
    if lock_fd is None:
        logger.error("another engine is running on %s", state_dir)
        return 4
    engine = WorkflowEngine(workflow, state_dir)
    return engine.run()


def cmd_status(state_dir: str) -> int:
    if not os.path.exists(os.path.join(state_dir, EVENT_LOG)):
        print(f"no event log in {state_dir}", file=sys.stderr)
        return 2
    print(json.dumps(get_status(state_dir)))
    return 0


def main(argv: List[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        return cmd_run(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "status":
        return cmd_status(argv[1])
    print(__doc__.split("Usage:")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
