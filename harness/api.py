"""Orchestration: run candidates x scenarios x seed through a runner and score them.

The library entry point behind `harness score`. A cell's infrastructure failure (the
runner broke, the machine ran out of something) marks that cell's checks
`infra_error` and is reported apart; it never counts against the candidate. A cell
that reaches its wall-clock limit is not one: its engine is ended and the cell is
judged on what it did, so a hanging candidate fails what it did not finish. Cells are
always closed, so nothing of a cell outlives it, also on Ctrl-C.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import cellfs, cells
from harness.cells import CellSpec
from harness.checks import REGISTRY, load_all, run_check, states
from harness.checks.common import succeeded_steps
from harness.errors import (
    CandidateSetupError,
    CellLimitReached,
    HarnessError,
    InfraError,
    RunnerUnavailableError,
    UsageError,
)
from harness.executors.base import RunnerSpec
from harness.executors.sequential import Sequential
from harness.faults import clean, crashstates, logfaults, throughput  # noqa: F401 - they register procedures
from harness.faults.inject import CellLimit
from harness.faults.procedures import PROCEDURES, new_ctx, observe, run_procedure
from harness.intent import Intent, Language, find_signals, load_signals
from harness.manifest import load_candidate
from harness.measures import MEASURES, measured
from harness.model import Candidate, CellResult, CheckResult, Evidence, Outcome, Scenario
from harness.observe import Invocation, Observation
from harness.profiles import Profiles, load_profiles
from harness.runners.base import Cell, Runner
from harness.runners.limits import Limits
from harness.scenario import load_scenarios, select
from harness.suites import Coverage, load_suite
from harness.throughput import YARDSTICK

ROOT = Path(__file__).resolve().parent.parent
SCORING = ROOT / "scenarios" / "scoring"  # signals/ (one file per language) and profiles.toml
REFERENCE = ROOT / "candidates" / "reference"  # the yardstick of the throughput figures
CELL_TIMEOUT_S = 600.0  # a cell's wall-clock limit unless --cell-timeout says otherwise
Progress = Callable[[CellResult], None]


def all_scenarios(folder: Path | None = None,
                  pattern: str | Sequence[str] | None = None) -> list[Scenario]:
    load_all()
    return load_scenarios(folder or ROOT / "scenarios", PROCEDURES, REGISTRY, pattern,
                          validators=logfaults.VALIDATORS, measures=MEASURES)


def yardstick(candidates: Sequence[Candidate], scenarios: Sequence[Scenario],
              ) -> tuple[str, Candidate | None, list[Scenario]]:
    """The throughput yardstick of a run: the name its cells go by, the candidate to plan
    them for, and the scenarios to plan (those with measures).

    The yardstick is the bundled reference, measured in the same run on the same runner
    as the candidates. Where the reference is among them, its own cells are the yardstick
    (None to plan: its ratio to itself is exactly 1); otherwise one cell per measuring
    scenario is added to the plan and kept out of every candidate's scores. Its name is
    "reference", or "reference (yardstick)" where another candidate is named so."""
    measuring = [s for s in scenarios if s.measures]
    scored = next((c for c in candidates if c.path.resolve() == REFERENCE.resolve()), None)
    if scored is not None:
        return scored.name, None, []
    if not measuring:
        return YARDSTICK, None, []
    ref = load_candidate(REFERENCE)
    if any(c.name == ref.name for c in candidates):
        ref = replace(ref, name=f"{ref.name} (yardstick)")
    return ref.name, ref, measuring


def plan(candidates: Sequence[Candidate], scenarios: Sequence[Scenario], seed: int,
         runner: str, trials: int = 1) -> tuple[list[CellSpec], str]:
    """Every cell of a run (the yardstick's last, if it needs its own), and the name the
    yardstick's cells go by."""
    name, extra, measuring = yardstick(candidates, scenarios)
    specs = cells.plan(candidates, scenarios, seed, runner, reproduce_command, trials)
    if extra is not None:
        specs += cells.plan([extra], measuring, seed, runner, reproduce_command)
    return specs, name


def pick_scenarios(folder: Path | None = None, patterns: Sequence[str] = (),
                   suite: str = "") -> tuple[list[Scenario], Coverage]:
    """The scenarios a run judges: a suite's (when named), then those of them that any
    of `patterns` selects; and the run's coverage of the folder's scenarios that judge
    (a scenario of measures alone, such as throughput, changes no score, so leaving it
    out does not make a run partial)."""
    folder = folder or ROOT / "scenarios"
    every = all_scenarios(folder)
    names = [s.name for s in every]
    pool = every
    if suite:
        chosen = set(load_suite(folder, suite, names).scenarios)
        pool = [s for s in every if s.name in chosen]
    picked = select(pool, patterns)
    judging = tuple(s.name for s in every if s.checks)
    return picked, Coverage(tuple(s.name for s in picked if s.checks), judging, suite,
                            tuple(patterns))


def scoring_data(folder: Path | None = None) -> tuple[Profiles, dict[str, Language]]:
    """The scoring profiles and the design signals, from scenarios/scoring/ by default."""
    folder = folder or SCORING
    return load_profiles(folder / "profiles.toml"), load_signals(folder / "signals")


def intents(candidates: Sequence[Candidate], languages: dict[str, Language]) -> dict[str, Intent]:
    return {c.name: find_signals(c, languages) for c in candidates}


@dataclass(frozen=True, slots=True)
class RunnerChoice:
    """Which runner a run uses, why, and what results.json records of it."""

    spec: RunnerSpec
    why: str
    facts: dict[str, str]


def choose(name: str, say: Callable[[str], None] = print,
           limits: Limits | None = None) -> RunnerChoice:
    """The runner kind every worker of this run makes its own runner of.

    auto: Docker when a daemon answers, else the local runner. A daemon that answers but
    fails later (while building the base image, say) is an error, not a silent fallback:
    the user would otherwise run untrusted code unisolated without noticing. The base
    image is found or built here, once, before any worker starts."""
    if name not in ("auto", "local", "docker"):
        raise UsageError(f"--runner {name}: choose auto, local or docker")
    limits = limits or Limits()
    if name == "local":
        return RunnerChoice(RunnerSpec("local", limits), "local runner: asked for with"
                            " --runner local (no isolation)", {"runner": "local"})
    from harness.container import hostcopy, images  # the Docker SDK, only where Docker may be used
    from harness.container.client import connect

    try:
        client = connect()
    except RunnerUnavailableError as exc:
        if name == "docker":
            raise
        return RunnerChoice(RunnerSpec("local", limits), f"local runner: {exc}; candidates run"
                            " as local processes without isolation", {"runner": "local"})
    try:
        base_id = images.bootstrap(client, say)
        copies = hostcopy.wanted(client)
    except UsageError as exc:  # the base image is missing and cannot be built here
        if name == "docker":
            raise
        return RunnerChoice(RunnerSpec("local", limits), f"local runner: a Docker daemon"
                            f" answers, but {exc}; candidates run as local processes without"
                            " isolation", {"runner": "local"})
    finally:
        client.close()
    why = "asked for with --runner docker" if name == "docker" else "a Docker daemon answers"
    return RunnerChoice(RunnerSpec("docker", limits),
                        f"docker runner: {why}; containers reset and reused from cell to cell,"
                        + (" /usr and the working folder read from a host copy of the image"
                           " (the storage driver is fuse-overlayfs)," if copies else "")
                        + f" no network, read-only root, image {images.BASE_IMAGE}",
                        {"runner": "docker", "base_image": images.BASE_IMAGE,
                         "base_image_id": base_id})


def choose_runner(name: str, say: Callable[[str], None] = print,
                  limits: Limits | None = None) -> tuple[Runner, str]:
    """A runner of the kind `choose` picks, opened here (the caller closes it), and why."""
    picked = choose(name, say, limits)
    return picked.spec.open(say), picked.why


def reproduce_command(c: Candidate, scenario: str, seed: int, runner: str) -> str:
    try:
        where = str(c.path.relative_to(ROOT))
    except ValueError:
        where = str(c.path)
    return shlex.join(["harness", "score", where, "--scenario", scenario, "--seed", str(seed),
                       "--runner", runner])


def timeline(obs: Observation, t0: float) -> dict[str, Any]:
    """Probe runs and engine invocations on one clock, relative to the cell's start."""
    ends = {r["pid"]: r for r in obs.ends()}

    def rel(t: float | None) -> float | None:
        return None if t is None else round(float(t) - t0, 4)

    runs = [{"step": r["step"], "run": r["run"], "pid": r["pid"], "start": rel(r["mono"]),
             "end": rel(ends[r["pid"]]["mono"]) if r["pid"] in ends else None,
             "exit": ends[r["pid"]]["exit"] if r["pid"] in ends else None,
             "died": rel(obs.deaths.get(r["pid"]))} for r in obs.starts()]
    invs = [{"label": i.label, "start": rel(i.started), "end": rel(i.ended),
             "returncode": i.returncode, "fault": i.fault, "fault_at": rel(i.fault_at)}
            for i in obs.invocations]
    return {"runs": runs, "invocations": invs}


def busy_time(invocations: Sequence[Invocation]) -> float:
    """Seconds during which at least one engine ran (overlapping runs count once)."""
    total, reach = 0.0, float("-inf")
    for inv in sorted(invocations, key=lambda i: i.started):
        start = max(inv.started, reach)
        if inv.ended > start:
            total += inv.ended - start
        reach = max(reach, inv.ended)
    return total


def run_spec(runner: Runner, spec: CellSpec, wall_s: float = CELL_TIMEOUT_S) -> CellResult:
    """One planned cell on runner, its result carrying the spec's trial and key."""
    cell = run_cell(runner, spec.candidate, spec.scenario, spec.seed, wall_s, spec.reproduce)
    return replace(cell, trial=spec.trial, key=spec.key)


def run_cell(runner: Runner, c: Candidate, scenario: Scenario, seed: int,
             wall_s: float = CELL_TIMEOUT_S, reproduce: str = "") -> CellResult:
    start = time.monotonic()
    repro = reproduce or reproduce_command(c, scenario.name, seed, runner.name)
    try:
        cell = runner.open_cell(c, f"{c.name}-{scenario.name}")
    except InfraError as exc:
        return infra_cell(c, scenario, seed, runner.name, repro, str(exc), start)
    except CandidateSetupError as exc:
        return setup_failed_cell(c, scenario, seed, runner.name, repro, str(exc), start)
    ctx = None
    try:
        ctx = new_ctx(cell, scenario, seed, CellLimit.starting_now(wall_s))
        cut_short = run_procedure(ctx)
        obs = observe(ctx)
        results = tuple(run_check(spec, obs) for spec in scenario.checks)
        figures = measured(scenario.measures, obs)  # never judged: no outcome, no score
        engine_s = busy_time([*obs.invocations, *(i for v in obs.variants for i in v.invocations)])
        extra: dict[str, Any] = {
            "timeline": timeline(obs, start), "engine_s": round(engine_s, 3),
            "harness_sleep_s": obs.facts.get("harness_sleep_s", 0.0),
            "sandbox": {**cell.describe(), "limits_hit": cell_limits(cell)}}
        if figures:
            extra["measures"] = figures
        if cut_short:
            extra["cell_limit"] = cut_short
        for key in ("faults", "recordings", "crash_plan"):  # exact or timed kills; the plan
            if obs.facts.get(key):
                extra[key] = obs.facts[key]
        if obs.variants and scenario.procedure == "crash_states":  # per model: tried, passed
            tally = states.tally(obs, [spec.check for spec in scenario.checks])
            if "first_failing" in tally:
                tally["first_failing"]["replay"] = repro
            extra["crash_states"] = tally
        steps = {str(s["id"]) for s in scenario.workflow.get("steps", [])}
        if steps:  # how many ran to success, per the probes: it gates design intent
            extra["steps_succeeded"] = len(succeeded_steps(obs.audit) & steps)
        return CellResult(c.name, scenario.name, seed, runner.name, results, repro,
                          time.monotonic() - start, extra=extra)
    except InfraError as exc:
        return infra_cell(c, scenario, seed, runner.name, repro, str(exc), start)
    except OSError as exc:  # a write of the harness's into the cell failed
        if not cellfs.full(cell.root):
            raise
        return cell_full_cell(c, scenario, seed, runner.name, repro, cell, exc, start)
    finally:
        if ctx is not None:
            ctx.watcher.close()  # its inotify descriptor, also when the procedure broke
        try:
            cell.close()
        except HarnessError:
            pass  # a container the daemon would not remove now is collected by the next run


def cell_limits(cell: Cell) -> dict[str, int]:
    """The resource limits the cell ran into; none known once its backstop ended it."""
    try:
        return cell.limits()
    except CellLimitReached:
        return {}


def every_check(s: Scenario, outcome: Outcome, evidence: tuple[Evidence, ...] = (),
                detail: str = "") -> tuple[CheckResult, ...]:
    """One verdict for every check of s: a cell judged whole, not check by check."""
    return tuple(CheckResult(spec.check, REGISTRY[spec.check].capability,
                             REGISTRY[spec.check].severity, outcome, evidence, detail)
                 for spec in s.checks)


def infra_cell(c: Candidate, s: Scenario, seed: int, runner: str, repro: str, why: str,
               start: float) -> CellResult:
    results = every_check(s, Outcome.INFRA_ERROR, detail=why)
    return CellResult(c.name, s.name, seed, runner, results, repro, time.monotonic() - start,
                      infra_error=why)


def setup_failed_cell(c: Candidate, s: Scenario, seed: int, runner: str, repro: str,
                      why: str, start: float) -> CellResult:
    """The candidate could not be set up (its image does not build): its checks fail."""
    ev = (Evidence("the candidate's image builds", why, str(c.path)),)
    results = every_check(s, Outcome.FAIL, evidence=ev)
    return CellResult(c.name, s.name, seed, runner, results, repro, time.monotonic() - start)


def cell_full_cell(c: Candidate, s: Scenario, seed: int, runner: str, repro: str, cell: Cell,
                   exc: OSError, start: float) -> CellResult:
    """The engine filled its cell's writable space, so the scenario could not go on (the
    harness could not write its next input or snapshot): its checks fail."""
    sandbox = cell.describe()
    try:
        sandbox["limits_hit"] = cell.limits()
    except InfraError:
        pass  # the cell's verdict does not hang on its counters
    ev = (Evidence(f"the engine keeps within the cap on its cell's writable space ({sandbox.get('disk')})",
                   f"the cell's file system was full when the harness wrote to it: {str(exc)[:300]}",
                   "the cell's folder"),)
    results = every_check(s, Outcome.FAIL, evidence=ev)
    return CellResult(c.name, s.name, seed, runner, results, repro, time.monotonic() - start,
                      extra={"sandbox": sandbox})


@dataclass(frozen=True, slots=True)
class ScoreRun:
    cells: tuple[CellResult, ...]
    runner: dict[str, str]


def score(candidates: Sequence[Candidate], scenarios: Sequence[Scenario], runner: Runner,
          seed: int, progress: Progress | None = None,
          wall_s: float = CELL_TIMEOUT_S) -> ScoreRun:
    """Every cell, one after another, on a runner the caller opened and closes (and the
    throughput yardstick's, if the reference is not among the candidates)."""
    specs, _ = plan(candidates, scenarios, seed, runner.name)
    done = []
    with Sequential(runner, wall_s) as ex:
        for cell in ex.run(specs):
            done.append(cell)
            if progress:
                progress(cell)
    return ScoreRun(tuple(done), runner.describe())
