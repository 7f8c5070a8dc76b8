"""Helpers shared by the check families: excerpts, event lookups, named processes, and
the preconditions that keep a check from passing on something that never happened."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from harness.beneath import size_text
from harness.checks import NotExercised
from harness.eventlog import loose, parse_log
from harness.layout import STREAM_CAP
from harness.model import Evidence
from harness.observe import Invocation, Observation

EXCERPT_LINES = 3
# How a line of an excerpt looks ("> 12 | text" for the line pointed at), for readers of
# excerpts such as the HTML report; other lines ("before:") are headings.
EXCERPT_LINE = re.compile(r"^[ >]\s*\d+ \| ")


def excerpt(raw: bytes | None, line: int | None = None, limit: int = 1600) -> str:
    """Lines around `line` (1-based; default: the end), with line numbers, '>' marking it."""
    if not raw:
        return "(empty)"
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    at = len(lines) if line is None else line
    lo, hi = max(1, at - EXCERPT_LINES), min(len(lines), at + EXCERPT_LINES)
    out = []
    for n in range(lo, hi + 1):
        mark = ">" if n == at else " "
        out.append(f"{mark}{n:4d} | {lines[n - 1].decode('utf-8', 'replace')[:300]}")
    return "\n".join(out)[-limit:]


def text(raw: bytes, limit: int = 600) -> str:
    s = raw.decode("utf-8", "replace").strip()
    return s if len(s) <= limit else s[: limit // 2] + " ... " + s[-limit // 2 :]


def stderr_text(raw: bytes | Invocation, limit: int = 300) -> str:
    """An engine's stderr for evidence: its end, where a traceback names the exception.
    Given the invocation, it also says what of the engine's output the runner dropped."""
    if isinstance(raw, Invocation):
        note = cut_note(raw)
        tail = stderr_text(raw.stderr, limit)
        return f"{tail or '(empty)'} ({note})" if note else tail
    s = raw.decode("utf-8", "replace").strip()
    return s if len(s) <= limit else "... " + s[-limit:]


def cut_note(inv: Invocation) -> str:
    """What the runner dropped of an invocation's stdout and stderr ('' when nothing)."""
    notes = []
    for name, cut in (("stdout", inv.stdout_cut), ("stderr", inv.stderr_cut)):
        if cut is None:
            continue
        wrote = f"the engine wrote {size_text(cut.written)} to {name}; the harness"
        if cut.kept >= STREAM_CAP:
            notes.append(f"{wrote} kept the first {size_text(cut.kept)} (the cap) and dropped"
                         " the rest")
        else:  # the file could not grow: the engine filled its cell
            kept = f"kept the first {size_text(cut.kept)} and dropped the rest" if cut.kept \
                else "dropped it all"
            notes.append(f"{wrote} {kept}, as the cell's space was full")
    return "; ".join(notes)


def events(raw: bytes | None) -> list[Mapping[str, Any]]:
    return parse_log(raw or b"").events


def of_type(evs: Iterable[Mapping[str, Any]], kind: str, step: str | None = None) -> list[Mapping[str, Any]]:
    return [e for e in evs if e.get("type") == kind and (step is None or e.get("step") == step)]


def of_kind(evs: Iterable[Mapping[str, Any]], kind: str, step: str | None = None) -> list[Mapping[str, Any]]:
    """Like of_type, matching types loosely: where a check judges what the log says
    happened (an attempt started, a step succeeded), a misnamed type is log.schema's
    finding, and what it records can still be judged."""
    want = loose(kind)
    return [e for e in evs if loose(str(e.get("type", ""))) == want
            and (step is None or e.get("step") == step)]


def step_ids(obs: Observation) -> list[str]:
    return [s["id"] for s in obs.workflow.get("steps", [])]


def exit_evidence(inv: Invocation, expected: str, where: str = "") -> Evidence:
    # A run with no exit was killed by the harness: its fault says at which limit (the
    # scenario's bound or the cell's wall-clock limit), and that is the evidence.
    seen = (f"exit {inv.returncode}" if inv.returncode is not None
            else f"no exit ({inv.fault})" if inv.fault else "no exit within the harness bound")
    return Evidence(expected=expected, seen=f"{seen}; stderr: {stderr_text(inv) or '(empty)'}",
                    where=where or inv.describe(), excerpt=excerpt(inv.log_after))


def named_processes(obs: Observation, log: bytes | None) -> dict[int, Mapping[str, Any]]:
    """Probe and grandchild pids of attempts that this log names (by pid or pgid).

    The contract holds an engine responsible only for processes of attempts its log
    names: a crash between spawn and a durable STEP_STARTED can leave one it never knew.
    """
    started = of_kind(events(log), "STEP_STARTED")
    pids = {e.get("pid") for e in started}
    pgids = {e.get("pgid") for e in started}
    named: dict[int, Mapping[str, Any]] = {}
    for rec in obs.starts():
        if rec.get("pid") in pids or rec.get("pgid") in pgids:
            named[int(rec["pid"])] = rec
    for rec in obs.audit:
        if rec.get("kind") == "child" and rec.get("parent") in named:
            named[int(rec["pid"])] = rec
    return named


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def succeeded_steps(audit: Iterable[Mapping[str, Any]]) -> set[str]:
    """Steps with a probe `end` record of exit 0: steps that really ran to success."""
    return {str(r.get("step")) for r in audit if r.get("kind") == "end" and r.get("exit") == 0}


def unfinished_steps(obs: Observation) -> list[str]:
    """Steps of the workflow that never ran to success in this cell, per the audit."""
    done = succeeded_steps(obs.audit)
    return [s for s in step_ids(obs) if s not in done]


def not_run_text(obs: Observation, missing: list[str]) -> str:
    if not obs.starts():
        return "no step ran: the audit has no probe start"
    shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
    return (f"{len(missing)} of {len(step_ids(obs))} steps never ran to success (no probe `end`"
            f" record with exit 0): {shown}")


def steps_all_succeeded(obs: Observation) -> list[Evidence]:
    """Evidence unless every step of the workflow ran to success, per the audit.

    A log and an exit code are the engine's word; the probe's records are not. A valid
    workflow that finished must have run each of its steps to an exit 0."""
    missing = unfinished_steps(obs)
    if not missing:
        return []
    return [Evidence("every step of the workflow ran to success (a probe `end` record with"
                     " exit 0 for each step id)", not_run_text(obs, missing), "audit")]


def steps_ran(obs: Observation) -> list[Evidence]:
    """Evidence when no step ran at all: the contract has a valid workflow's steps run,
    so a check of what running them leaves behind has nothing to judge, and fails."""
    if obs.starts():
        return []
    seen, where, tail = "no step ran: the audit has no probe start", "audit", ""
    first = next((i for i in obs.invocations if i.label.startswith("run")), None)
    if first is not None:  # what the engine did instead, as the reviewer will ask
        how = ("did not exit" if first.returncode is None
               else f"exited {first.returncode}")
        cut = cut_note(first)
        seen += f"; {first.label} {how}" + (f"; {cut}" if cut else "")
        where += f" and {first.label}"
        tail = stderr_text(first.stderr, 300)
    return [Evidence("the workflow's steps run (a valid workflow: the contract demands it)",
                     seen, where, f"stderr: {tail}" if tail else "")]


# Facts a procedure records as False when a fault that is certain to reach an engine
# keeping the contract did not: its steps hang, or sleep, until the fault comes.
CERTAIN_FAULTS = ("signalled", "killed", "exercised")


def fault_missed(obs: Observation, why: str, where: str = "cell") -> list[Evidence]:
    """What a check guards never happened because the harness's fault did not reach it.

    Where the scenario makes the fault certain for an engine that runs the workflow
    (steps that hang until ended, a first step that sleeps past the moment), or where
    the engine left steps of the workflow unrun (it ended early or hung), the contract
    demanded what would have let it land, and the miss is the engine's failure: evidence.
    If every step ran to success, the engine was simply done before the seeded moment:
    the check was not exercised (raises NotExercised)."""
    missing = unfinished_steps(obs)
    certain = [k for k in CERTAIN_FAULTS if obs.facts.get(k) is False]
    if certain:
        return [Evidence("the scenario's fault reaches the engine (its steps keep an engine"
                         " that runs them busy until it comes)",
                         f"{why}; {not_run_text(obs, missing) if missing else 'the run ended'}",
                         where)]
    if missing:
        return [Evidence("the engine runs the workflow, so that the scenario's fault reaches"
                         " it", f"{why}; {not_run_text(obs, missing)}", where)]
    raise NotExercised(f"{why}, and every step had already run to success", where)
