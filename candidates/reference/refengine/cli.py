"""The command line: `run WORKFLOW_JSON STATE_DIR` and `status STATE_DIR`.

Exit codes: 0 succeeded, 1 failed, 2 invalid workflow or usage (or a resume with a
different workflow file, or STATE_DIR holds no log for `status`), 3 damaged log, 4
another live engine holds STATE_DIR, 128+signum after SIGTERM/SIGINT, 70 an internal
error (a message, never a traceback).

Properties kept on purpose:
- Every refusal happens before anything is written, in this order: the workflow is
  validated before STATE_DIR is created; the lock is taken before the log is read;
  a damaged log, a changed workflow or a finished log leave every byte as it was.
- Resume ends every process group the log shows running and records it lost before
  anything runs again, then publishes outputs a crash left unpublished.
- `status` opens the log read-only, never takes the lock and never repairs anything.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from refengine import eventlog, lock, outputs, state, supervisor
from refengine.eventlog import EventLog, LogContents, LogDamaged
from refengine.scheduler import Scheduler, catch_stop_signals
from refengine.workflow import Workflow, WorkflowError, load

USAGE = "usage: main.py run WORKFLOW_JSON STATE_DIR | main.py status STATE_DIR"


def fail(code: int, message: str) -> int:
    print(f"engine: {message}", file=sys.stderr)
    return code


def log_path(state_dir: str) -> str:
    return os.path.join(state_dir, "events.jsonl")


def _status(path: str) -> dict[str, object] | None:
    """The status document of the log at `path`, None when there is none. A log in the
    reference's own form is folded from its columns; any other goes through `parse`."""
    try:
        with open(path, "rb") as f:  # read-only: status changes nothing
            raw = f.read()
    except FileNotFoundError:
        return None
    columns = eventlog.status_columns(raw)
    if columns is not None:
        return state.status_fold(*columns)
    return state.status_document(eventlog.parse(raw).events)


def cmd_status(state_dir: str) -> int:
    gc.disable()  # a short read-only process that builds many objects and no cycles
    path = log_path(state_dir)
    try:
        document = _status(path)
    except LogDamaged as exc:
        return fail(3, f"damaged log {path}: {exc}")
    except OSError as exc:
        return fail(2, f"cannot read {path}: {exc.strerror}")
    if document is None:
        return fail(2, f"no event log in {state_dir}")
    print(json.dumps(document))
    return 0


def recover(wf: Workflow, state_dir: str, log: EventLog) -> dict[str, state.StepState]:
    """Resume: end every group the log shows running, record it lost, publish what's due."""
    log.append("WORKFLOW_RESUMED")
    running = [(sid, attempt, pgid) for sid, s in state.replay(log.events).items()
               for attempt, (_pid, pgid) in sorted(s.running.items())]
    survivors = supervisor.end_groups(sorted({pgid for _, _, pgid in running}))
    if survivors:  # SIGKILL is pending on them: they can never run code again
        print(f"engine: process groups {survivors} were SIGKILLed but not yet reaped",
              file=sys.stderr)
    for sid, attempt, _pgid in running:  # only now: the log's "lost" is then the truth
        log.append("STEP_FAILED", step=sid, attempt=attempt, reason="lost")
    outputs.publish_missing(state_dir, log.events)
    return state.replay(log.events)


def start(wf: Workflow, state_dir: str, contents: LogContents | None) -> int:
    if contents is not None and contents.events:
        if contents.events[0]["digest"] != wf.digest:
            return fail(2, "the workflow file differs from the one this log was started"
                           " with (its sha256 is not the log's digest); nothing was changed")
        if contents.finished:  # even a torn line after the end is left as it is
            return 0 if contents.events[-1]["type"] == "WORKFLOW_SUCCEEDED" else 1
    for sub in ("work", "logs", "outputs"):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    eventlog.fsync_dir(state_dir)
    log = EventLog(log_path(state_dir), contents)  # cuts a torn final line
    if log.events:
        steps = recover(wf, state_dir, log)
    else:
        log.append("WORKFLOW_STARTED", workflow=wf.name, digest=wf.digest)
        steps = {}
    return Scheduler(wf, state_dir, log, steps).run()


def _make_state_dir(path: str) -> None:
    if os.path.isdir(path):
        return
    os.makedirs(path)
    eventlog.fsync_dir(os.path.dirname(path))  # the new directory's name is durable too


def cmd_run(workflow_path: str, state_dir: str) -> int:
    try:
        wf = load(workflow_path)
    except WorkflowError as exc:
        return fail(2, f"invalid workflow {workflow_path}: {exc}")
    catch_stop_signals()
    state_dir = os.path.abspath(state_dir)
    try:
        _make_state_dir(state_dir)
        held = lock.acquire(state_dir)
    except lock.Locked as exc:
        return fail(4, str(exc))
    except OSError as exc:
        return fail(2, f"cannot use STATE_DIR {state_dir}: {exc.strerror}")
    try:
        contents = eventlog.read(log_path(state_dir))
    except LogDamaged as exc:
        return fail(3, f"damaged log {log_path(state_dir)}: {exc}; nothing was changed")
    except OSError as exc:
        return fail(2, f"cannot read {log_path(state_dir)}: {exc.strerror}")
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
    except KeyboardInterrupt:  # SIGINT before `run` notes signals itself
        return 128 + 2
    except Exception as exc:  # an engine bug: say so plainly, exit as an internal error
        return fail(70, f"internal error: {exc!r}")
