"""Cells as data: what one candidate x scenario x seed x trial on one runner kind is.

A `CellSpec` is everything a worker needs to run a cell, and nothing tied to the
machine that planned it: executors ship specs to processes and other hosts, and the
results store files each finished cell under its `CellKey`. The key is made of content
digests, not names or paths: a candidate whose files change, or a scenario whose file
or harness version changes, gets new keys, so `--resume` runs exactly those cells
again. `cell_to_json` and `cell_from_json` carry a `CellResult` through the store
without loss.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness import __version__
from harness.errors import ManifestError
from harness.model import Candidate, CellResult, CheckResult, Evidence, Outcome, Scenario, Severity
from harness.tree import candidate_files


@dataclass(frozen=True, slots=True)
class CellKey:
    """A finished cell's identity in the results store."""

    candidate: str  # content_digest of the candidate
    scenario: str  # scenario_digest of the scenario
    seed: int
    trial: int
    runner: str  # the runner kind: local, docker, fake

    def short(self) -> str:
        return (f"{self.candidate[:12]}/{self.scenario[:12]}/seed {self.seed}/trial"
                f" {self.trial}/{self.runner}")


@dataclass(frozen=True, slots=True)
class CellSpec:
    """One cell to run: picklable, so that an executor can send it to another process."""

    candidate: Candidate
    scenario: Scenario
    seed: int
    trial: int
    runner: str
    key: CellKey
    reproduce: str  # the command that runs this cell again, as its planner sees the paths

    @property
    def label(self) -> str:
        """candidate / scenario, and the trial after the first (trial 0 reads as before)."""
        return (f"{self.candidate.name} / {self.scenario.name}"
                + (f" trial {self.trial}" if self.trial else ""))


def content_digest(c: Candidate) -> str:
    """sha256 over what a candidate runs as: its merged file tree (names, exec bits, bytes
    or link targets), its entrypoint and its image recipe. The image cache builds its
    tag from this, so equal digests mean an equal image and an equal cell."""
    h = hashlib.sha256()
    spec = c.docker
    h.update(f"entrypoint\0{chr(0).join(c.entrypoint)}\0docker\0{spec.image}\0{spec.dockerfile}"
             f"\0{spec.workdir}\0files\0".encode())
    for rel, path in candidate_files(c):
        mode = path.lstat().st_mode
        h.update(f"{rel}\0{mode & 0o111:o}\0".encode())
        if stat.S_ISLNK(mode):
            h.update(os.readlink(path).encode())  # a link is hashed as its target, never followed
        elif stat.S_ISREG(mode):
            with open(path, "rb") as f:  # in blocks: a huge file is never held whole
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        else:  # a FIFO would hang the read, a device would never end
            raise ManifestError(f"{path}: not a regular file or a link; a candidate's folder"
                                " holds only those")
        h.update(b"\0")
    return h.hexdigest()


def scenario_digest(s: Scenario) -> str:
    """sha256 over the scenario file's bytes and the harness version that judges it."""
    return hashlib.sha256(s.path.read_bytes() + b"\0harness " + __version__.encode()).hexdigest()


def trial_seed(seed: int, trial: int) -> int:
    """The seed of a trial's fault plan: the run's seed for trial 0, a derived one after."""
    if trial == 0:
        return seed
    digest = hashlib.sha256(f"{seed}/{trial}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def plan(candidates: Sequence[Candidate], scenarios: Sequence[Scenario], seed: int,
         runner: str, reproduce: Any, trials: int = 1) -> list[CellSpec]:
    """Every cell of a run, candidate by candidate, in scenario order.

    reproduce(candidate, scenario_name, seed, runner) gives a cell's command."""
    digests = {c.path: content_digest(c) for c in candidates}
    sdigests = {s.path: scenario_digest(s) for s in scenarios}
    specs = []
    for c in candidates:
        for s in scenarios:
            for t in range(trials):
                cell_seed = trial_seed(seed, t)
                key = CellKey(digests[c.path], sdigests[s.path], cell_seed, t, runner)
                specs.append(CellSpec(c, s, cell_seed, t, runner, key,
                                      reproduce(c, s.name, cell_seed, runner)))
    return specs


def cell_to_json(cell: CellResult) -> dict[str, Any]:
    """A CellResult as plain JSON, every field kept (cell_from_json reads it back)."""
    return {"candidate": cell.candidate, "scenario": cell.scenario, "seed": cell.seed,
            "runner": cell.runner, "reproduce": cell.reproduce, "duration_s": cell.duration_s,
            "infra_error": cell.infra_error, "trial": cell.trial, "extra": dict(cell.extra),
            "results": [{"check": r.check, "capability": r.capability,
                         "severity": r.severity.name.lower(), "outcome": r.outcome.value,
                         "evidence": [e.to_json() for e in r.evidence], "detail": r.detail}
                        for r in cell.results]}


def cell_from_json(d: Mapping[str, Any], key: CellKey | None = None) -> CellResult:
    results = tuple(CheckResult(r["check"], r["capability"], Severity[r["severity"].upper()],
                                Outcome(r["outcome"]),
                                tuple(Evidence(**e) for e in r["evidence"]), r["detail"])
                    for r in d["results"])
    return CellResult(d["candidate"], d["scenario"], int(d["seed"]), d["runner"], results,
                      d["reproduce"], float(d["duration_s"]), d["infra_error"], d["extra"],
                      int(d.get("trial", 0)), key)
