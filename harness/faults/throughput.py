"""The throughput scenario's procedure: timed runs and timed status, no fault.

`runs` times `run` of a workflow of `steps` no-op steps (`command`, `max_parallel`), each
in a fresh STATE_DIR; a run that does not exit 0 ends the timing of runs (the next would
only fail again, and a hung engine would cost the cell its bound each time). Then
`status_runs` times `status` of a valid log of about `status_events` events that the
harness writes (`throughput.status_case`). The measures (harness.measures) turn the
invocations into figures; nothing here judges them.
"""

from __future__ import annotations

import json
from typing import Any

from harness.faults import logfaults
from harness.faults.procedures import PROCEDURES, Ctx
from harness.layout import STATE, input_file, state_dir
from harness.throughput import SCENARIO, status_case, workflow_doc

DEFAULTS: dict[str, Any] = {"steps": 200, "max_parallel": 8, "command": ["true"], "runs": 3,
                            "status_events": 1000, "status_runs": 5}


def param(ctx: Ctx, key: str) -> Any:
    return ctx.params.get(key, DEFAULTS[key])


def throughput(ctx: Ctx) -> None:
    """Time `run` on no-op steps, then `status` on a harness-written log."""
    steps = int(param(ctx, "steps"))
    doc = workflow_doc(ctx.scenario.name, steps, int(param(ctx, "max_parallel")),
                       [str(a) for a in param(ctx, "command")])
    workflow = input_file("throughput.json")
    ctx.files.write(workflow, (json.dumps(doc, indent=1) + "\n").encode())
    ctx.facts["steps"] = steps
    for i in range(1, int(param(ctx, "runs")) + 1):
        state = STATE if i == 1 else state_dir(f"state-{i}")
        inv = ctx.call(ctx.run_args(workflow, state), f"run {i}")
        if inv.returncode != 0:
            break
    target = int(param(ctx, "status_events"))
    wf, log = status_case(target)
    ctx.files.write(input_file("status-workflow.json"), wf)
    where = state_dir("status-state")
    ctx.files.mkdir(where)
    ctx.files.write(f"{where}/events.jsonl", log)
    ctx.cell.hand_over(where)
    ctx.facts["status_target"] = target
    ctx.facts["status_events"] = log.count(b"\n")
    for i in range(1, int(param(ctx, "status_runs")) + 1):
        ctx.call(ctx.status_args(where), f"status {i}")


def validate(params: dict[str, Any]) -> list[str]:
    """The throughput scenario's [params]: whole numbers in range, a non-empty command."""
    problems = []
    for key, low in (("steps", 1), ("max_parallel", 1), ("runs", 1), ("status_events", 1),
                     ("status_runs", 1)):
        v = params.get(key, DEFAULTS[key])
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            problems.append(f"params.{key}: must be an integer >= {low}")
    cmd = params.get("command", DEFAULTS["command"])
    if not (isinstance(cmd, list) and cmd and all(isinstance(a, str) and a for a in cmd)):
        problems.append("params.command: must be a non-empty list of non-empty strings")
    return problems


PROCEDURES.update({SCENARIO: throughput})
logfaults.VALIDATORS[SCENARIO] = validate
