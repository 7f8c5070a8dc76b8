"""Local cells shared between the tests of one session.

Several tests need the very same cell: the local runner's run of a candidate on a
scenario at a seed. test_checks_catch_defects and test_mutants judge a defect by it, and
test_parity compares it with the Docker runner's; test_mutants and test_parity both run
the reference at seed 5. Each such cell is run once per session and read back by the
others: a folder that all pytest-xdist workers share holds it, as JSON, and a lock per
cell makes a second asker wait for the first rather than run it again. A cell is keyed by
the candidate's content digest, the scenario's digest and the seed, and the folder is the
session's own, so no cell outlives the code that made it.

A test that needs a fresh run (a rerun, to see whether an outcome varies) runs the cell
itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from harness import api
from harness.cells import cell_from_json, cell_to_json, content_digest, scenario_digest
from harness.model import Candidate, CellResult, Scenario
from harness.runners.local import LocalRunner


class LocalCells:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, cand: Candidate, scenario: Scenario, seed: int) -> CellResult:
        key = f"{content_digest(cand)[:24]}-{scenario_digest(scenario)[:24]}-{seed}"
        path = self.folder / f"{key}.json"
        with open(self.folder / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return cell_from_json(json.loads(path.read_text()))
            cell = api.run_cell(LocalRunner(), cand, scenario, seed)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cell_to_json(cell)))
            tmp.replace(path)
            return cell


def shared_cells(factory: pytest.TempPathFactory) -> LocalCells:
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return LocalCells(shared / "local-cells")
