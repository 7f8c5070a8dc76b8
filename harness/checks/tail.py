"""Checks on damaged logs: a torn final line is recovered, any other damage refused.

Torn-tail variants tear a line the engine may already have acted on, a state a crash
cannot make (v1.1 clarification). So these checks demand only what concerns the log:
status ignores the torn line, run cuts it and goes on, and no earlier event is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import excerpt, stderr_text, step_ids
from harness.checks.status import status_differences
from harness.eventlog import parse_log, seq_problems
from harness.model import Evidence, Severity
from harness.observe import Observation, Variant


def _precondition(obs: Observation) -> list[Evidence]:
    """Evidence unless the damaged logs are crash states of a real run.

    The contract has the crashed run's valid workflow write a line per event while its
    steps run, and the seeded kill comes after a few of them: a run that left fewer than
    two lines, or wrote its log without running a step, broke the contract, and nothing
    judged on its log would mean anything."""
    first = obs.invocations[0] if obs.invocations else None
    if "stopped" in obs.facts:  # the log was a link, a special file, or over its cap
        return [Evidence("a crashed run that left a log to damage", str(obs.facts["stopped"]),
                         "cell")]
    if "precondition" in obs.facts:
        return [Evidence("a crashed run that left a log to damage", str(obs.facts["precondition"]),
                         "run 1", excerpt(first.log_after if first else b""))]
    if obs.facts.get("base_starts") == 0:
        return [Evidence("a crashed run that ran steps and left their log to damage",
                         f"no step ran: the audit has no probe start, yet the log held"
                         f" {obs.facts.get('base_lines')} lines",
                         first.describe() if first else "run 1",
                         excerpt(first.log_after if first else b""))]
    if not obs.variants:
        return [Evidence("damaged-log variants", "none were run", "cell")]
    return []


def _prefix(v: Variant) -> bytes:
    torn: bytes = v.facts["torn"]
    return torn[: torn.rfind(b"\n") + 1]


@check("tail.status_ignores_torn", "torn_tail_recovery", Severity.MAJOR)
def status_ignores_torn(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """With the last line torn at any byte, status exits 0 and reports the complete lines.

    TASK.md: §"The event log" (Torn final line: `status` ignores it and changes nothing);
    §"Status output" (only the complete lines)."""
    out = _precondition(obs)
    for v in obs.variants:
        inv = v.invocations[0]
        diffs = status_differences(inv, _prefix(v))
        if inv.log_after != inv.log_before:
            diffs.append("status changed the log")
        if diffs:
            out.append(Evidence("status of the complete lines, exit 0, log unchanged",
                                "; ".join(diffs[:3]), f"{v.label}: {inv.describe()}",
                                excerpt(v.facts["torn"])))
    return _summarise(out, obs)


def resumed_problems(after: bytes | None, kept: bytes, lost: str, torn: str) -> list[str]:
    """What is wrong with a log that `run` left after resuming from the complete lines
    `kept`: those lines lost or changed (`lost`), a torn line or damage left (`torn`), seq
    not contiguous, or no WORKFLOW_SUCCEEDED at its end.

    A torn line after a finished `kept` (one ending in its end event) may be cut or left
    (TASK.md, Crash recovery step 5): there a torn line left, with no event added, is no
    problem."""
    after = after or b""
    parsed = parse_log(after)
    problems = []
    if not after.startswith(kept):
        problems.append(lost)
    left_after_end = False
    if parsed.torn and not parsed.damaged:
        before = parse_log(kept)  # parsed once, only where a torn line was left
        left_after_end = before.finished and len(parsed.events) == len(before.events)
    if parsed.damaged or (parsed.torn and not left_after_end):
        problems.append(torn)
    problems += seq_problems(parsed.events)[:1]
    if not parsed.finished or parsed.events[-1].get("type") != "WORKFLOW_SUCCEEDED":
        problems.append("the log does not end in WORKFLOW_SUCCEEDED")
    return problems


def _run_problems(v: Variant, inv: Any, steps: list[str]) -> list[str]:
    if inv.returncode != 0:
        return [f"exit {inv.returncode}; stderr: {stderr_text(inv) or '(empty)'}"]
    problems = resumed_problems(inv.log_after, _prefix(v),
                                "an event from before the torn line was lost or changed",
                                "the torn bytes are still in the log, or new damage")
    done = v.facts.get("succeeded")
    missing = [s for s in steps if done is not None and s not in done]
    if missing:  # finishing means running them: the log alone is the engine's word
        problems.append(f"steps never ran to success (no probe `end` record with exit 0):"
                        f" {', '.join(missing)}")
    return problems


@check("tail.run_recovers", "torn_tail_recovery", Severity.FATAL)
def run_recovers(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """With the last line torn at any byte, run cuts it, keeps every earlier event, finishes
    (every step ran to success, per the audit).

    TASK.md: §"The event log" (Torn final line; Only states a crash can leave);
    §"Crash recovery" steps 6 and 10."""
    out = _precondition(obs)
    for v in obs.variants:
        for inv in v.invocations[1:]:
            problems = _run_problems(v, inv, step_ids(obs))
            if problems:
                out.append(Evidence("exit 0, the torn line cut, earlier events kept, seq"
                                    " contiguous, WORKFLOW_SUCCEEDED", "; ".join(problems),
                                    f"{v.label}: {inv.describe()}",
                                    "before:\n" + excerpt(v.facts["torn"]) + "\nafter:\n"
                                    + excerpt(inv.log_after)))
    return _summarise(out, obs)


def _summarise(out: list[Evidence], obs: Observation) -> list[Evidence]:
    """Many offsets fail the same way: keep the first few and say how many."""
    if len(out) > 3:
        rest = Evidence(f"the same at every offset ({len(obs.variants)} variants)",
                        f"{len(out) - 3} more variants failed", "torn-tail variants")
        return [*out[:3], rest]
    return out


def _refusals(obs: Observation, index: int, expected: str) -> list[Evidence]:
    """Evidence for each variant whose invocation `index` (0 status, 1 run) did not refuse:
    exit 3 with the log byte for byte as damaged; run must also start no step."""
    out = _precondition(obs)
    for v in obs.variants:
        inv = v.invocations[index]
        problems = []
        if inv.returncode != 3:
            problems.append(f"exit {inv.returncode}; stderr: {stderr_text(inv) or '(empty)'}")
        if inv.log_after != v.facts["damaged"]:
            problems.append("the log changed")
        if index == 1 and v.facts["new_audit"]:
            problems.append(f"{len(v.facts['new_audit'])} step(s) ran")
        if problems:
            out.append(Evidence(expected, "; ".join(problems), f"{v.label}: {inv.describe()}",
                                excerpt(v.facts["damaged"], v.facts["line"])))
    return out


@check("corrupt.run_refuses", "durable_log", Severity.MAJOR)
def run_refuses(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A damaged middle line: run exits 3, changes no byte of the log, runs no step.

    TASK.md: §"The event log" (Damage); §"Commands and exit codes" (exit 3: no step runs)."""
    return _refusals(obs, 1, "exit 3, log byte for byte unchanged, no step run")


@check("corrupt.status_refuses", "replay_status", Severity.MAJOR)
def status_refuses(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A damaged middle line: status exits 3 and changes no byte of the log.

    TASK.md: §"The event log" (Damage); §"Commands and exit codes" (exit 3)."""
    return _refusals(obs, 0, "exit 3, log byte for byte unchanged")
