"""Command line: `run WORKFLOW_JSON STATE_DIR` and `status STATE_DIR`."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from typing import Dict, List

from wfengine import events as ev
from wfengine.events import Event
from wfengine.scheduler import Scheduler
from wfengine.store import CorruptLogError, EventStore, load
from wfengine.workflow import WorkflowValidationError, load_workflow

USAGE = "usage: main.py run WORKFLOW_JSON STATE_DIR | main.py status STATE_DIR"
LOG_NAME = "events.jsonl"


def _error(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def build_status(events: List[Event]) -> Dict[str, object]:
    steps: Dict[str, Dict[str, object]] = {}
    for e in events:
        if e.step is None:
            continue
        entry = steps.setdefault(e.step, {"state": "pending", "attempts": 0})
        if e.type == ev.STEP_STARTED:
            entry["state"] = "running"
            entry["attempts"] = int(entry["attempts"]) + 1
        elif e.type == ev.STEP_SUCCEEDED:
            entry["state"] = "succeeded"
        elif e.type == ev.STEP_RETRY_SCHEDULED:
            entry["state"] = "retry_wait"
        elif e.type == ev.STEP_FAILED:
            entry["state"] = "pending" if e.data.get("reason") == "lost" else "failed"
    if not events:
        workflow = "pending"
    elif events[-1].type == ev.WORKFLOW_SUCCEEDED:
        workflow = "succeeded"
    elif events[-1].type == ev.WORKFLOW_FAILED:
        workflow = "failed"
    else:
        workflow = "running"
    return {"workflow": workflow, "last_seq": events[-1].seq if events else 0, "steps": steps}


def cmd_status(state_dir: str) -> int:
    path = os.path.join(state_dir, LOG_NAME)
    try:
        loaded = load(path)
    except CorruptLogError as exc:
        return _error(3, f"corrupt event log: {exc}")
    except OSError as exc:
        return _error(2, f"cannot read {path}: {exc}")
    if loaded is None:
        return _error(2, f"no event log in {state_dir}")
    events, _torn = loaded
    print(json.dumps(build_status(events)))
    return 0


def _lock(state_dir: str) -> int | None:
    fd = os.open(os.path.join(state_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def cmd_run(workflow_path: str, state_dir: str) -> int:
    try:
        workflow = load_workflow(workflow_path)
    except WorkflowValidationError as exc:
        return _error(2, f"invalid workflow: {exc}")
    except OSError as exc:
        return _error(2, f"cannot read workflow file: {exc}")
    state_dir = os.path.abspath(state_dir)
    try:
        os.makedirs(state_dir, exist_ok=True)
    except OSError as exc:
        return _error(2, f"cannot create {state_dir}: {exc}")
    lock_fd = _lock(state_dir)
    if lock_fd is None:
        return _error(4, f"another engine is running on {state_dir}")

    path = os.path.join(state_dir, LOG_NAME)
    try:
        loaded = load(path)
    except CorruptLogError as exc:
        return _error(3, f"corrupt event log: {exc}")
    history = loaded[0] if loaded else []
    if history:
        if history[0].data.get("digest") != workflow.digest:
            return _error(2, "workflow file changed since this run was started")
        if history[-1].type in ev.TERMINAL_TYPES:
            return 0 if history[-1].type == ev.WORKFLOW_SUCCEEDED else 1

    for sub in ("work", "logs", "outputs"):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    store = EventStore(path)
    store.open(history)
    scheduler = Scheduler(workflow, state_dir, store)
    try:
        if history:
            scheduler.replay(history)
            scheduler.recover()
        else:
            scheduler._emit_event(ev.WORKFLOW_STARTED, workflow=workflow.name,
                                  digest=workflow.digest)
        return scheduler.run()
    finally:
        store.close()


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if len(argv) == 3 and argv[0] == "run":
        return cmd_run(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "status":
        return cmd_status(argv[1])
    return _error(2, USAGE)
