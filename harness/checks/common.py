"""Helpers shared by the check families: excerpts, event lookups, named processes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from harness.eventlog import parse_log
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


def size_text(n: int) -> str:
    """A byte count as people read it: "4 MiB", "3.1 GiB", "512 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


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
    started = of_type(events(log), "STEP_STARTED")
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
