"""The local pool and the Dask executor against the sequential one, with real engines.

Both must give the reference the same per-check outcomes as running its cells one after
another; a worker killed mid-cell must cost at most that cell, as infra_error, never a
failure of the candidate, and leave no engine running; stopping early must leave no
worker process behind. Dask runs on a LocalCluster of two process workers, the
candidate's files shipped to them as a bundle (mutants `extend` the reference, so theirs
is a merged tree) and unpacked into a cache folder that this test owns.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness import api, cells
from harness.cells import CellSpec, content_digest
from harness.executors.base import Executor, RunnerSpec
from harness.executors.pool import Pool
from harness.executors.sequential import Sequential
from harness.manifest import load_candidate
from harness.model import CellResult, Outcome
from harness.tree import candidate_files

ROOT = Path(__file__).resolve().parents[2]
FAST = ("clean-run", "invalid-workflow", "crash-loop")  # about 1-2 s each on the reference
LONGER = "sigint"  # about 3 s: long enough to kill its worker mid-cell
WALL_S = 120.0
SEED = 7

Outcomes = dict[tuple[str, str, str], str]


def specs_for(candidate: str, scenarios: tuple[str, ...]) -> list[CellSpec]:
    c = load_candidate(ROOT / "candidates" / candidate)
    chosen = [s for s in api.all_scenarios() if s.name in scenarios]
    return cells.plan([c], chosen, SEED, "local", api.reproduce_command)


def outcomes(results: list[CellResult]) -> Outcomes:
    return {(r.candidate, r.scenario, x.check): x.outcome.value for r in results for x in r.results}


def agree(a: Outcomes, b: Outcomes) -> None:
    """The same checks, with the same verdicts. A check left not exercised in one run and
    passed in the other is no disagreement: crash-loop's exact kills strike the recorded
    call, and a loaded machine can merge two steps' ends into one group commit, so the
    struck call finds no attempt running and crash.lost_recorded has nothing to judge
    (seen once in CI at seed 7). A PASS against a FAIL still fails the test."""
    assert a.keys() == b.keys()
    ne = Outcome.NOT_EXERCISED.value
    both = [k for k in a if ne not in (a[k], b[k])]
    assert {k: a[k] for k in both} == {k: b[k] for k in both}


def run_all(ex: Executor, specs: list[CellSpec]) -> tuple[list[CellResult], list[tuple[str, str]]]:
    starts: list[tuple[str, str]] = []
    results = list(ex.run(specs, lambda spec, worker: starts.append((spec.label, worker))))
    return results, starts


def cell_processes() -> list[int]:
    """Every live process on the machine that runs inside a harness cell (a reaper or an
    engine: both have HARNESS_CELL in their environment)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"HARNESS_CELL=" in env and state != "Z":
            found.append(int(entry.name))
    return found


def no_cell_processes(within_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := cell_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def sequential() -> Outcomes:
    specs = specs_for("reference", FAST) + specs_for("mutants/no-lock", ("invalid-workflow",))
    with Sequential(RunnerSpec("local"), WALL_S) as ex:
        return outcomes(list(ex.run(specs)))


@pytest.mark.slow
def test_pool_of_two_gives_the_outcomes_of_one_after_another(sequential: Outcomes) -> None:
    specs = specs_for("reference", FAST)
    with Pool(RunnerSpec("local"), 2, WALL_S) as pool:
        results, starts = run_all(pool, specs)
    assert sorted(label for label, _ in starts) == sorted(s.label for s in specs)
    assert {worker for _, worker in starts} == {"w1", "w2"}
    agree(outcomes(results), {k: v for k, v in sequential.items() if k[0] == "reference"})
    assert all(r.key in {s.key for s in specs} for r in results)


@pytest.mark.slow
@pytest.mark.serial  # counts cell processes machine-wide
def test_a_pool_worker_killed_mid_cell_costs_that_cell_only() -> None:
    specs = specs_for("reference", (LONGER, *FAST))
    pids: dict[str, int] = {}

    def started(spec: CellSpec, worker: str) -> None:
        for p in multiprocessing.active_children():
            if p.name.startswith("harness-") and p.pid is not None:
                pids[p.name.removeprefix("harness-")] = p.pid
        if spec.scenario.name == LONGER:
            threading.Timer(1.0, os.kill, (pids[worker], signal.SIGKILL)).start()

    with Pool(RunnerSpec("local"), 2, WALL_S) as pool:
        results = list(pool.run(specs, started))
    by_scenario = {r.scenario: r for r in results}
    assert sorted(by_scenario) == sorted(s.scenario.name for s in specs)
    killed = by_scenario.pop(LONGER)
    assert killed.infra_error and "died mid-cell (killed by SIGKILL)" in killed.infra_error
    assert {x.outcome for x in killed.results} == {Outcome.INFRA_ERROR}
    for r in by_scenario.values():  # no FAIL; not exercised is no failure (see below)
        found = {x.outcome for x in r.results}
        assert not r.infra_error and Outcome.PASS in found, r.scenario
        assert found <= {Outcome.PASS, Outcome.NOT_EXERCISED}, r.scenario
    assert not multiprocessing.active_children()
    assert no_cell_processes() == []


@pytest.mark.slow
@pytest.mark.serial  # counts cell processes machine-wide
def test_closing_the_pool_run_early_ends_every_worker_and_cell() -> None:
    specs = specs_for("reference", ("invalid-workflow", LONGER, "clean-run"))
    pool = Pool(RunnerSpec("local"), 2, WALL_S)
    run: Iterator[CellResult] = pool.run(specs)
    # Specs come in scenario order: clean-run and invalid-workflow start on the two workers
    # (sigint waits for one). Whichever of the two ends first, as load decides, comes out
    # here, while the other is still in its worker.
    first = next(run)
    in_flight = [w.spec.scenario.name for w in pool._busy if w.spec is not None]
    assert len(in_flight) == 1, in_flight
    assert {first.scenario, *in_flight} == {"clean-run", "invalid-workflow"}, in_flight
    t0 = time.monotonic()
    run.close()
    assert time.monotonic() - t0 < 10
    assert not multiprocessing.active_children()
    assert no_cell_processes() == []
    pool.close()


# ------------------------------------------------------------------------------- Dask

@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workers' candidate cache: the LocalCluster's processes inherit this env."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "harness" / "candidates"


@pytest.mark.slow
def test_dask_gives_the_outcomes_of_one_after_another(sequential: Outcomes, cache: Path) -> None:
    from harness.executors.dask import DaskExecutor

    mutant = specs_for("mutants/no-lock", ("invalid-workflow",))
    specs = specs_for("reference", FAST) + mutant
    with DaskExecutor(RunnerSpec("local"), WALL_S, None, 2) as ex:
        results, starts = run_all(ex, specs)
    agree(outcomes(results), sequential)
    assert sorted(label for label, _ in starts) == sorted(s.label for s in specs)
    assert len({worker for _, worker in starts}) == 2
    # the mutant ran from its bundle: its merged tree, the reference's files under its own
    c, digest = mutant[0].candidate, mutant[0].key.candidate
    assert c.extends and sorted(p.name for p in cache.iterdir()) == sorted(
        {s.key.candidate for s in specs})
    inherited = [rel for rel, path in candidate_files(c) if not path.is_relative_to(c.path)]
    assert inherited and all((cache / digest / rel).is_file() for rel in inherited)
    assert content_digest(replace(c, path=cache / digest, extends=())) == digest


@pytest.mark.slow
def test_a_killed_dask_worker_costs_no_cell(cache: Path) -> None:
    from harness.executors.dask import DaskExecutor

    specs = specs_for("reference", (LONGER, *FAST))
    with DaskExecutor(RunnerSpec("local"), WALL_S, None, 2) as ex:
        assert ex.client is not None
        pids: dict[str, int] = ex.client.run(os.getpid)
        killed: list[int] = []
        starts: list[str] = []

        def started(spec: CellSpec, worker: str) -> None:
            starts.append(spec.scenario.name)
            if spec.scenario.name == LONGER and not killed:
                killed.append(pids[worker])
                threading.Timer(1.0, os.kill, (pids[worker], signal.SIGKILL)).start()

        results = list(ex.run(specs, started))
        assert killed and killed[0] not in ex.client.run(os.getpid).values()  # a new process
    assert starts.count(LONGER) == 2  # the killed worker's cell ran again, elsewhere
    assert sorted(r.scenario for r in results) == sorted(s.scenario.name for s in specs)
    for r in results:  # retried on the other worker; at worst infra_error, never a FAIL
        # (a check whose precondition the seeded kills never met is not exercised: no FAIL)
        assert {x.outcome for x in r.results} <= {Outcome.PASS, Outcome.INFRA_ERROR,
                                                  Outcome.NOT_EXERCISED}, r.scenario
        assert Outcome.PASS in {x.outcome for x in r.results}, r.scenario
    assert [r.scenario for r in results if r.infra_error] == []


# ------------------------------------------------------------------------ the choice

def test_the_options_choose_the_executor() -> None:
    from harness.executors.choose import default_jobs, make_executor

    local = RunnerSpec("local")
    with make_executor("local", 1, local, WALL_S) as one:
        assert isinstance(one, Sequential)
    with make_executor("local", 3, local, WALL_S) as three:
        assert isinstance(three, Pool) and three.workers == 3
    import os

    assert default_jobs() == 2 * len(os.sched_getaffinity(0))  # two cells per usable core


@pytest.mark.parametrize(("name", "jobs", "scheduler", "says"), [
    ("local", 0, None, "--jobs 0: give 1 or more"),
    ("threads", 2, None, "--executor threads: choose local or dask"),
    ("local", 2, "tcp://127.0.0.1:1", "--scheduler tcp://127.0.0.1:1: no Dask scheduler answers"),
    ("dask", 2, "no-port", "--scheduler no-port: no Dask scheduler answers"),
])
def test_bad_options_are_usage_errors(name: str, jobs: int, scheduler: str | None,
                                      says: str) -> None:
    from harness.errors import UsageError
    from harness.executors.choose import make_executor

    t0 = time.monotonic()
    with pytest.raises(UsageError, match="^" + re.escape(says)) as err:
        make_executor(name, jobs, RunnerSpec("local"), WALL_S, scheduler)
    assert "\n" not in str(err.value) and time.monotonic() - t0 < 6
