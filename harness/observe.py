"""What a scenario run observed: the raw material that checks judge.

An `Observation` holds only ground truth: exit codes, the bytes of the log as they were
before and after each invocation, the probe's audit, which recorded processes were
seen alive and when each was first seen dead, the bytes in outputs/, and the files the
harness refused to touch (links, special files, files over their cap). Log bytes are
read at most `safefs.LOG_CAP` at a time and equal contents share one object. Nothing in it
is the candidate's account of itself except `status` output, which checks compare with
that ground truth.

Monotonic times here and in the audit come from the same clock (CLOCK_MONOTONIC), so
they can be compared directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.model import Scenario


@dataclass(frozen=True, slots=True)
class Cut:
    """An output stream the runner cut: the engine wrote `written` bytes to it, and the
    runner kept the first `kept` (the cap, or less where the cell's space ran out)."""

    written: int
    kept: int


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of the candidate's entrypoint."""

    label: str
    args: tuple[str, ...]
    returncode: int | None  # None: killed still running, at its bound or the cell's limit
    started: float
    ended: float
    stdout: bytes = b""
    stderr: bytes = b""
    fault: str = ""  # what the harness did to it, e.g. "SIGKILL after 5 events"
    fault_at: float | None = None
    log_before: bytes | None = None
    log_after: bytes | None = None
    stdout_cut: Cut | None = None  # None: every byte the engine wrote was kept
    stderr_cut: Cut | None = None

    @property
    def duration(self) -> float:
        return self.ended - self.started

    def describe(self) -> str:
        code = "no exit" if self.returncode is None else f"exit {self.returncode}"  # fault says why
        extra = f", {self.fault}" if self.fault else ""
        return f"{self.label}: `{' '.join(self.args)}` -> {code}{extra}"


@dataclass(frozen=True, slots=True)
class Variant:
    """A sub-case of a scenario (one torn offset, one malformed workflow ...)."""

    label: str
    invocations: tuple[Invocation, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Publication:
    """A file seen in outputs/: its name, inode and size, and when it was first seen so."""

    name: str
    inode: int
    size: int
    seen: float


@dataclass(frozen=True, slots=True)
class Observation:
    scenario: Scenario
    seed: int
    workflow_bytes: bytes
    invocations: tuple[Invocation, ...]
    audit: tuple[Mapping[str, Any], ...]
    final_log: bytes
    outputs: Mapping[str, bytes]
    publications: tuple[Publication, ...] = ()
    deaths: Mapping[int, float] = field(default_factory=dict)
    alive_after: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    written_in_place: Mapping[str, int] = field(default_factory=dict)  # outputs/ name -> writes
    appearances: Mapping[str, int] = field(default_factory=dict)  # outputs/ name -> times made
    write_sessions: Mapping[str, int] = field(default_factory=dict)  # name -> writes then close
    # Files the harness refused to follow or open, or found over their size cap, each a
    # sentence naming it ("work/state/events.jsonl is a symlink to /etc/passwd").
    hazards: tuple[str, ...] = ()

    @property
    def workflow(self) -> Mapping[str, Any]:
        return self.scenario.workflow

    def starts(self, step: str | None = None) -> list[Mapping[str, Any]]:
        return [r for r in self.audit
                if r.get("kind") == "start" and (step is None or r.get("step") == step)]

    def ends(self, step: str | None = None) -> list[Mapping[str, Any]]:
        return [r for r in self.audit
                if r.get("kind") == "end" and (step is None or r.get("step") == step)]

    def runs(self, label_prefix: str = "run") -> list[Invocation]:
        return [i for i in self.invocations if i.label.startswith(label_prefix)]


def parse_audit(raw: bytes) -> tuple[dict[str, Any], ...]:
    """The probe writes whole lines under a lock; a line that does not parse is skipped."""
    records = []
    for line in raw.split(b"\n"):
        if line.strip():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return tuple(records)
