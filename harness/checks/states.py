"""Checks on constructed crash states: each state, resumed, meets every rule of TASK.md.

Each variant of the crash-states scenario (`harness.faults.crashstates`) is one STATE_DIR
a crash could leave, built from what the candidate itself wrote in a recorded clean run:
a process crash after k of its calls (prefix), its k-th write torn (torn), or a power
loss after k calls (power_loss). `status` then `run` were invoked on it.

TASK.md's "Only states a crash can leave" frees the engine from the step rules on a torn
line it had already acted on. A torn state here tears the write being made, call k, with
only the calls before it applied: nothing the engine did after that write is in the
state, so it cannot have acted on the torn line. These are "crash states built from what
the engine actually wrote", and every rule is demanded on all of them.

Each check judges every state by one per-state function (`PER_STATE`), so that the cell's
record can say, per model, how many states passed every check (`tally`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.checks import NotExercised, check
from harness.checks.common import excerpt, sha256, stderr_text, steps_ran, succeeded_steps
from harness.checks.status import status_differences
from harness.checks.tail import resumed_problems
from harness.eventlog import parse_log
from harness.model import Evidence, Severity
from harness.observe import Observation, Variant

SHOWN = 3  # failing states shown in full per check; the rest are counted
PerState = Callable[[Variant, Sequence[str]], list[str]]


def _precondition(obs: Observation) -> list[Evidence]:
    """No states to judge: NotExercised when the cell could not record (the harness's
    tooling, never the candidate), evidence when the candidate's files stopped it."""
    ran = steps_ran(obs)  # the recording's probe runs are in the cell's audit
    if ran:  # nothing ran: a log with no step behind it makes no crash state
        return ran
    if "states_unavailable" in obs.facts:
        why = f"no crash state was built: {obs.facts['states_unavailable']}"
        if obs.facts.get("states_unavailable_by_candidate"):  # the engine's doing
            return [Evidence("a clean run whose trace builds crash states", why,
                             "the clean recording under strace")]
        raise NotExercised(why, "the clean recording under strace")
    if "stopped" in obs.facts:
        return [Evidence("crash states written and resumed", str(obs.facts["stopped"]), "cell")]
    if not obs.variants:
        return [Evidence("crash states resumed", "none were run", "cell")]
    return []


def _complete(log: bytes) -> bytes:
    """The state's log without its torn final line: what every later log must start with."""
    return log[:parse_log(log).torn_offset]


def status_problems(v: Variant, steps: Sequence[str]) -> list[str]:
    inv = v.invocations[0]
    log: bytes | None = v.facts["log"]
    if log is None:  # TASK.md: status exits 2 when STATE_DIR holds no events.jsonl
        problems = [] if inv.returncode == 2 else [
            f"no events.jsonl, yet exit {inv.returncode} (stderr: {stderr_text(inv) or 'empty'})"]
        if inv.log_after is not None:
            problems.append("status created events.jsonl")
        return problems
    problems = status_differences(inv, log)
    if inv.log_after != log:
        problems.append("status changed the log")
    return problems


def run_problems(v: Variant, steps: Sequence[str]) -> list[str]:
    inv = v.invocations[1]
    if inv.returncode != 0:
        return [f"exit {inv.returncode}; stderr: {stderr_text(inv) or '(empty)'}"]
    problems = resumed_problems(inv.log_after, _complete(v.facts["log"] or b""),
                                "a complete event of the state was lost or changed",
                                "a torn line is left in the log, or new damage")
    earlier = succeeded_steps(v.facts["earlier_audit"])
    done = succeeded_steps(v.facts["audit"]) | (set(v.facts["succeeded"]) & earlier)
    missing = [s for s in steps if s not in done]
    if missing:
        problems.append("steps never ran to success (no probe `end` record with exit 0, nor a"
                        f" success in the state's log): {', '.join(missing)}")
    return problems


def rerun_problems(v: Variant, steps: Sequence[str]) -> list[str]:
    acted = set(v.facts["acted_on"])
    problems = []
    for step in v.facts["succeeded"]:
        runs = [r for r in v.facts["audit"] if r.get("kind") == "start" and r.get("step") == step]
        if runs:
            used = (" after the engine had acted on it (an output published or a dependent"
                    " started)") if step in acted else ""
            problems.append(f"{step} ran again ({len(runs)} probe run(s), first pid"
                            f" {runs[0].get('pid')}) though its STEP_SUCCEEDED is in the"
                            f" state's log{used}")
    return problems


def _good(v: Variant, step: str) -> set[str]:
    """sha256 of the outputs of step's probe runs that then exited 0 (the recording's,
    which made the state, and this state's)."""
    audit = [*v.facts["earlier_audit"], *v.facts["audit"]]
    ok = {r.get("run") for r in audit if r.get("kind") == "end" and r.get("step") == step
          and r.get("exit") == 0}
    return {str(r.get("sha256")) for r in audit if r.get("kind") == "output"
            and r.get("step") == step and r.get("run") in ok}


def output_problems(v: Variant, steps: Sequence[str]) -> list[str]:
    """A step whose success the state holds but whose attempt's file a power loss undid
    (`crashstates.unpublishable`) cannot be published without running it again, which the
    contract forbids: its missing output is not counted; one published must be whole."""
    before: Mapping[str, tuple[int, bytes]] = v.facts["outputs_before"]
    after: Mapping[str, tuple[int, bytes]] = v.facts["outputs_after"]
    problems = []
    for step in v.facts["due_outputs"]:
        now = after.get(step)
        if now is None and step not in v.facts.get("unpublishable", ()):
            problems.append(f"outputs/{step} missing")
        if now is None:
            continue
        if sha256(now[1]) not in _good(v, step):
            problems.append(f"outputs/{step} ({len(now[1])} bytes, starting {now[1][:40]!r}) is"
                            " not the whole output of a successful probe run")
        was = before.get(step)
        if was is not None and (was[0] != now[0] or was[1] != now[1]):
            problems.append(f"outputs/{step} existed in the state and was replaced or rewritten")
    return problems


def _judge(obs: Observation, fn: PerState, expected: str) -> list[Evidence]:
    out = _precondition(obs)
    steps = [str(s["id"]) for s in obs.workflow.get("steps", [])]
    failing = [(v, p) for v in obs.variants if (p := fn(v, steps))]
    for v, problems in failing[:SHOWN]:
        inv = v.invocations[-1]
        out.append(Evidence(expected, "; ".join(problems[:3]),
                            f"{v.label} ({v.facts['explanation']})",
                            "state's log:\n" + excerpt(v.facts["log"]) + "\nafter run:\n"
                            + excerpt(inv.log_after)))
    if len(failing) > SHOWN:
        out.append(Evidence(expected, f"{len(failing) - SHOWN} more of {len(obs.variants)}"
                            " states failed so", "crash states"))
    return out


@check("states.status", "replay_status", Severity.MAJOR)
def status(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """On every crash state, status exits 0 and reports the state's complete lines, and
    changes no byte of the log (TASK.md, Status output: "reads only the complete lines";
    `status` "changes no file"; exit 2 when STATE_DIR holds no events.jsonl).

    TASK.md: §"Status output"; §"Commands and exit codes" (`status`);
    §"How the harness crashes an engine" (Crash states)."""
    return _judge(obs, status_problems, "status of the state's complete lines, log unchanged")


@check("states.run_recovers", "crash_recovery", Severity.FATAL)
def run_recovers(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """On every crash state, run exits 0, keeps every complete event (a torn final line is
    cut), keeps seq contiguous and ends in WORKFLOW_SUCCEEDED, every step having run to
    success per the audit (TASK.md, Crash recovery; The event log: "Torn final line",
    "seq ... with no gap and no repeat, across resumes too").

    TASK.md: §"Crash recovery"; §"The event log" (Torn final line; `seq`);
    §"How the harness crashes an engine" (Crash states)."""
    return _judge(obs, run_problems, "exit 0, the state's complete events kept, seq"
                  " contiguous, WORKFLOW_SUCCEEDED, every step run to success")


@check("states.no_rerun", "crash_recovery", Severity.FATAL)
def no_rerun(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """On every crash state, no step whose STEP_SUCCEEDED is in the state's log runs again
    (TASK.md, The event log: "No re-run of a success. A step whose STEP_SUCCEEDED is in
    the log never runs again"). Re-runs of steps whose success the state does not hold
    are the at-least-once re-runs the contract allows, and pass.

    TASK.md: §"The event log" (No re-run of a success); §"How the harness crashes an engine"
    (Crash states)."""
    return _judge(obs, rerun_problems, "no step whose STEP_SUCCEEDED is in the state's log"
                  " runs again")


@check("states.outputs_once", "exactly_once_outputs", Severity.FATAL)
def outputs_once(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """On every crash state, after run each step that writes $ENGINE_OUTPUT has
    outputs/ID holding the whole output of one successful run, and an outputs/ID the state
    already held is kept as it was, never replaced (TASK.md, Outputs: "once outputs/ID
    exists it is never replaced or rewritten"; Crash recovery step 9).

    TASK.md: §"Step semantics" (Outputs); §"Crash recovery" step 9;
    §"How the harness crashes an engine" (Crash states)."""
    return _judge(obs, output_problems, "outputs/ID whole, from a successful run, and an"
                  " existing one never replaced")


PER_STATE: dict[str, PerState] = {
    "states.status": status_problems,
    "states.run_recovers": run_problems,
    "states.no_rerun": rerun_problems,
    "states.outputs_once": output_problems,
}


SAVE_CAP = 1 << 20  # a first failing state up to this size is kept byte for byte


def saved_files(v: Variant) -> dict[str, Any]:
    """The state's files (base64) and folders, for harness.replay to save and replay; a
    state over SAVE_CAP is named, not kept."""
    files = tuple(v.facts.get("files", ()))
    size = sum(len(data) for _, data in files)
    if size > SAVE_CAP:
        return {"files_omitted": f"the state holds {size} bytes, over {SAVE_CAP}"}
    return {"files": {rel: base64.b64encode(data).decode() for rel, data in files},
            "dirs": list(v.facts.get("dirs", ()))}


def tally(obs: Observation, checks: Sequence[str]) -> dict[str, Any]:
    """Per model, the states tried, passed (every one of `checks` held on it) and failed;
    the first failing state with its problems; the number deduped."""
    fns = [(c, PER_STATE[c]) for c in checks if c in PER_STATE]
    steps = [str(s["id"]) for s in obs.workflow.get("steps", [])]
    models: dict[str, dict[str, int]] = {  # a model all of whose states were twins: 0 tried
        str(m): {"tried": 0, "passed": 0, "failed": 0} for m in obs.facts.get("states_built", {})}
    first: dict[str, Any] | None = None
    for v in obs.variants:
        problems = [f"{name}: {p}" for name, fn in fns for p in fn(v, steps)]
        row = models.setdefault(str(v.facts["model"]), {"tried": 0, "passed": 0, "failed": 0})
        row["tried"] += 1
        row["passed" if not problems else "failed"] += 1
        if problems and first is None:
            first = {"model": v.facts["model"], "state": v.facts["state"],
                     "explanation": v.facts["explanation"], "problems": problems[:5],
                     **saved_files(v)}
    out: dict[str, Any] = {"models": models,
                           "deduped": int(obs.facts.get("states_deduped", 0))}
    if "states_built" in obs.facts:  # before sampling and dedup, per model
        out["built"] = dict(obs.facts["states_built"])
    if "states_s" in obs.facts:
        out["seconds"] = obs.facts["states_s"]
    if first is not None:
        out["first_failing"] = first
    return out
