"""The command line: `run WORKFLOW_JSON STATE_DIR` and `status STATE_DIR`.

Exit codes: 0 succeeded, 1 failed, 2 invalid workflow or usage (or a resume with a
different workflow file), 3 damaged log, 4 another live engine holds STATE_DIR,
128+signum after SIGTERM/SIGINT, 70 an internal error. Every refusal happens before
anything is written: an invalid workflow never creates STATE_DIR, and a damaged log, a
held lock or a changed workflow leave every byte as it was.
"""

from __future__ import annotations

import json
import os
import sys

from refengine import eventlog, lock, outputs, state, supervisor
from refengine.eventlog import EventLog, LogContents, LogDamaged
from refengine.scheduler import Scheduler
from refengine.workflow import Workflow, WorkflowError, load

USAGE = "usage: engine run WORKFLOW_JSON STATE_DIR | engine status STATE_DIR"


def fail(code: int, message: str) -> int:
    print(f"engine: {message}", file=sys.stderr)
    return code


def log_path(state_dir: str) -> str:
    return os.path.join(state_dir, "events.jsonl")


def cmd_status(state_dir: str) -> int:
    try:
        contents = eventlog.read(log_path(state_dir))
    except LogDamaged as exc:
        return fail(3, f"damaged log {log_path(state_dir)}: {exc}")
    except OSError as exc:
        return fail(2, f"cannot read {log_path(state_dir)}: {exc.strerror}")
    if contents is None:
        return fail(2, f"no event log in {state_dir}")
    print(json.dumps(state.status_document(contents.events)))
    return 0


def recover(wf: Workflow, state_dir: str, log: EventLog) -> dict[str, state.StepState]:
    """Resume: end every group the log shows running, record it lost, publish what's due."""
    log.append("WORKFLOW_RESUMED")
    for sid, s in state.replay(log.events).items():
        for attempt, (_pid, pgid) in sorted(s.running.items()):
            if not supervisor.end_group(pgid):
                raise RuntimeError(f"process group {pgid} of {sid} attempt {attempt} survived SIGKILL")
            log.append("STEP_FAILED", step=sid, attempt=attempt, reason="lost")
    outputs.publish_missing(state_dir, log.events)
    return state.replay(log.events)


def start(wf: Workflow, state_dir: str, contents: LogContents | None) -> int:
    if contents is not None and contents.events:
        if contents.events[0].get("digest") != wf.digest:
            return fail(2, "the workflow file differs from the one this log was started with")
        if contents.finished:
            return 0 if contents.events[-1]["type"] == "WORKFLOW_SUCCEEDED" else 1
    for sub in ("work", "logs"):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    log = EventLog(log_path(state_dir), contents)
    if log.events:
        steps = recover(wf, state_dir, log)
    else:
        log.append("WORKFLOW_STARTED", workflow=wf.name, digest=wf.digest)
        steps = {}
    return Scheduler(wf, state_dir, log, steps).run()


def cmd_run(workflow_path: str, state_dir: str) -> int:
    try:
        wf = load(workflow_path)
    except WorkflowError as exc:
        return fail(2, f"invalid workflow {workflow_path}: {exc}")
    state_dir = os.path.abspath(state_dir)
    try:
        os.makedirs(state_dir, exist_ok=True)
        held = lock.acquire(state_dir)
    except lock.Locked as exc:
        return fail(4, str(exc))
    except OSError as exc:
        return fail(2, f"cannot use STATE_DIR {state_dir}: {exc.strerror}")
    try:
        contents = eventlog.read(log_path(state_dir))
    except LogDamaged as exc:
        return fail(3, f"damaged log {log_path(state_dir)}: {exc}; nothing was changed")
    try:
        return start(wf, state_dir, contents)
    finally:
        os.close(held)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 3 and args[0] == "run":
            return cmd_run(args[1], args[2])
        if len(args) == 2 and args[0] == "status":
            return cmd_status(args[1])
        return fail(2, USAGE)
    except Exception as exc:  # an engine bug: say so plainly, exit as an internal error
        return fail(70, f"internal error: {exc!r}")
