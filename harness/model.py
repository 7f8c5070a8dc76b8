"""Frozen records and enums shared by every layer of the harness.

Everything here is plain data: scenarios and candidates as loaded, what a cell observed,
and what the checks concluded. Records are frozen so that checks, which are pure
functions over observations, cannot change what they judge.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CAPABILITIES: tuple[str, ...] = (
    "durable_log",
    "crash_recovery",
    "torn_tail_recovery",
    "replay_status",
    "process_groups",
    "timeouts",
    "retries",
    "nonblocking_backoff",
    "exactly_once_outputs",
    "parallelism",
    "dependency_order",
    "input_validation",
    "single_writer_lock",
)


class Severity(enum.IntEnum):
    """How much a failed check weighs in the execution score."""

    MINOR = 1
    MAJOR = 2
    FATAL = 3


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INFRA_ERROR = "infra_error"
    # What the check guards never happened (the seeded kill came after the engine had
    # finished, say), so a pass would mean nothing: left out of the score, shown apart.
    NOT_EXERCISED = "not_exercised"


@dataclass(frozen=True, slots=True)
class Finding:
    """A reviewer's finding that a reconstructed engine carries, and the checks showing it."""

    defect: str
    review: str
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a candidate came from: the model and sample that wrote it, and what else its
    `[origin]` table says (scalar keys, as strings, in `extra`: `--group-by origin.KEY`)."""

    model: str = ""
    prompt_version: str = ""
    date: str = ""
    notes: str = ""
    findings: tuple[Finding, ...] = ()
    sample: str = ""
    extra: tuple[tuple[str, str], ...] = ()  # (key, value), sorted by key

    def as_json(self) -> dict[str, str]:
        """Every scalar key of the origin, known ones first (findings are not scalar)."""
        return {"model": self.model, "prompt_version": self.prompt_version, "date": self.date,
                "notes": self.notes, "sample": self.sample, **dict(self.extra)}

    def get(self, key: str) -> str:
        """The value of origin.KEY ("" when it is not set)."""
        return self.as_json().get(key, "")


@dataclass(frozen=True, slots=True)
class DockerSpec:
    """How a candidate's image is made: a base image, or the candidate's own Dockerfile."""

    image: str = ""  # base image; empty: the harness's own Python base image
    dockerfile: str = ""  # relative to the candidate folder; empty: none
    workdir: str = "/candidate"  # where the candidate's files are inside the image


@dataclass(frozen=True, slots=True)
class MutantSpec:
    """A single-defect variant of the reference: what it breaks and what must catch it."""

    defect: str
    scenario: str
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    language: str
    description: str
    entrypoint: tuple[str, ...]
    claims: frozenset[str]
    path: Path
    origin: Origin = Origin()
    docker: DockerSpec = DockerSpec()
    extends: tuple[Path, ...] = ()  # folders whose files lie under this one's, base first
    mutant: MutantSpec | None = None


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A check as a scenario names it: which function, and its parameters."""

    check: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    procedure: str
    workflow: Mapping[str, Any]
    params: Mapping[str, Any]
    checks: tuple[CheckSpec, ...]  # the checks that judge: each has an outcome
    path: Path
    measures: tuple[CheckSpec, ...] = ()  # the checks that only measure (harness.measures)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a check expected, what it saw, and where it saw it."""

    expected: str
    seen: str
    where: str
    excerpt: str = ""

    def to_json(self) -> dict[str, str]:
        return {"expected": self.expected, "seen": self.seen, "where": self.where,
                "excerpt": self.excerpt}


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    capability: str
    severity: Severity
    outcome: Outcome
    evidence: tuple[Evidence, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CellResult:
    """One candidate x scenario x seed: its check results and how to reproduce it."""

    candidate: str
    scenario: str
    seed: int
    runner: str
    results: tuple[CheckResult, ...]
    reproduce: str
    duration_s: float
    infra_error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. the timeline, for reports
    trial: int = 0
    key: Any = None  # its harness.cells.CellKey, once planned as one
