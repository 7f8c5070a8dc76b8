"""The `harness` command: a thin layer over `harness.api`.

It parses options, calls the library, prints with rich, and maps every `HarnessError`
to a one-line message and its exit code. A user never sees a traceback: a bug of the
harness itself is one line and exit 3, its traceback goes to a log file. Exit 1 means
only "below --fail-under". Ctrl-C ends the run cleanly: cells close in `finally`
blocks, and every engine's reaper ends its processes when the harness goes away. A run
that stops early (Ctrl-C: 130, a harness failure: 3) still writes the cells it
finished, in a results.json marked incomplete; a run in which a cell could not be
judged (infra_error) writes everything and exits 3 too.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.table import Table

from harness import api, gate, outdir
from harness.errors import HarnessError, UsageError
from harness.intent import FALLBACK
from harness.manifest import resolve_candidates
from harness.model import Outcome
from harness.progress import Progress
from harness.report import doc as results_doc
from harness.report.speedview import terminal_lines
from harness.report.trialview import half_width
from harness.runners.limits import Limits
from harness.store import Store
from harness.study import Study
from harness.suites import coverage_of, load_suite, suite_names

F = TypeVar("F", bound=Callable[..., Any])
out = Console(width=None if sys.stdout.isatty() else 120)  # CI logs and pipes are wide
err = Console(stderr=True)


INTERNAL_EXIT = 3  # the harness itself failed (as InfraError's code)
CRASH_LOG = "harness-error.log"


def crash_log(folder: Path | None) -> str:
    """Write the traceback being handled to folder/CRASH_LOG (else a temp file); its path."""
    text = traceback.format_exc()
    try:
        if folder is not None:
            path = folder / CRASH_LOG
            path.write_text(text)
            return str(path)
        with tempfile.NamedTemporaryFile("w", prefix="harness-error-", suffix=".log",
                                         delete=False) as f:
            f.write(text)
            return f.name
    except OSError as exc:
        return f"nowhere: {exc.strerror or exc}"


def internal(exc: Exception, folder: Path | None) -> str:
    """One line for a bug of the harness; the traceback goes to a log file."""
    return (f"internal error: {type(exc).__name__}: {exc} (a harness bug; traceback in"
            f" {crash_log(folder)})")


def friendly(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err.print("interrupted: every cell was closed and its processes ended")
            sys.exit(130)
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise  # click's own ways out, with their own exit codes
        except Exception as exc:  # never a traceback on the terminal, never exit 1
            err.print(f"[bold red]error:[/] {internal(exc, None)}", highlight=False,
                      soft_wrap=True)
            sys.exit(INTERNAL_EXIT)

    return wrapper  # type: ignore[return-value]


# The signals that asked this run to stop. A KeyboardInterrupt can be swallowed where
# Python cannot raise it (a finaliser, a callback the interpreter calls for itself); the
# run then goes on, but must still end as interrupted: run_cells reads this.
INTERRUPTS: list[int] = []


def _terminated(signum: int, frame: object) -> None:
    INTERRUPTS.append(signum)
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: every cell closes


def handle_stop_signals() -> None:
    """SIGTERM, and SIGINT unless it was ignored when the harness started, stop the run."""
    signal.signal(signal.SIGTERM, _terminated)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _terminated)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def main() -> None:
    """Judge generated workflow engines by execution, against TASK.md."""
    handle_stop_signals()


SCENARIOS_OPT = click.option("--scenarios", "scenarios_dir", default=None,
                             type=click.Path(path_type=Path),
                             help="Folder of scenario files [default: scenarios/].")


@main.command("list")
@SCENARIOS_OPT
@friendly
def list_cmd(scenarios_dir: Path | None) -> None:
    """Print the bundled candidates and the scenarios."""
    table = Table("candidate", "language", "claims", "path", title="candidates")
    for c in resolve_candidates([], api.ROOT):
        table.add_row(c.name, c.language, str(len(c.claims)), str(c.path))
    out.print(table)
    table = Table("scenario", "procedure", "checks", "description", title="scenarios")
    scenarios = api.all_scenarios(scenarios_dir)
    for s in scenarios:
        table.add_row(s.name, s.procedure, str(len(s.checks))
                      + (f" + {len(s.measures)} measures" if s.measures else ""), s.description)
    out.print(table)
    folder = scenarios_dir or api.ROOT / "scenarios"
    names = [s.name for s in scenarios]
    table = Table("suite", "scenarios", "description", title="suites (harness score --suite NAME)")
    for name in suite_names(folder):
        suite = load_suite(folder, name, names)
        table.add_row(name, ", ".join(suite.scenarios), suite.description)
    out.print(table)


def _say(text: str) -> None:
    err.print(text, highlight=False, soft_wrap=True)


@main.command("score")
@click.argument("candidates", nargs=-1)
@click.option("--runner", default="auto", show_default=True,
              type=click.Choice(["auto", "local", "docker"]))
@click.option("--scenario", "patterns", multiple=True,
              help="Scenario name, glob or substring; may be repeated (any of them selects)."
                   " A run that leaves scenarios out is marked partial wherever it prints"
                   " scores.")
@click.option("--suite", default="",
              help="A named subset of the scenarios (scenarios/suites/NAME.toml), such as"
                   " quick; --scenario then picks among its scenarios. Partial, as above.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seeds every fault plan.")
@click.option("--trials", default=1, show_default=True, type=click.IntRange(min=1),
              help="Runs of every cell, each with its own fault plan (seeded from --seed and"
                   " the trial): scores become means with an interval, and a check that"
                   " passes in some trials and fails in others is marked flaky.")
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Output folder [default: reports/latest].")
@click.option("--resume", is_flag=True,
              help="Keep the cells already in OUT/results.sqlite and run only the rest.")
@click.option("--jobs", default=None, type=click.IntRange(min=1),
              help="Cells run at once: on this machine, or Dask workers to start"
                   " [default: the measured default for this machine's cores].")
@click.option("--executor", "executor_name", default=None, type=click.Choice(["local", "dask"]),
              help="Where cells run: local processes, or tasks on a Dask cluster"
                   " [default: local; dask when --scheduler is given].")
@click.option("--scheduler", default=None,
              help="Address of an existing Dask scheduler (tcp://HOST:8786); implies"
                   " --executor dask.")
@click.option("--profile", default=None,
              help="Scoring profile of the headline score [default: the profiles file's default].")
@click.option("--fail-under", default=None, type=float,
              help="Exit 1 if any headline score is lower.")
@click.option("--baseline", default=None, type=click.Path(path_type=Path),
              help="An earlier results.json: the report shows regressions and fixes.")
@click.option("--fail-on-regression", is_flag=True,
              help="With --baseline: exit 1 if a check that passed in the baseline fails now"
                   " (a check flaky in either run is reported, not gated).")
@click.option("--cell-timeout", default=api.CELL_TIMEOUT_S, show_default=True,
              type=click.FloatRange(min=1),
              help="Wall-clock limit of one cell in seconds, on either runner: an engine still"
                   " running then is killed and the cell judged on what it did.")
@SCENARIOS_OPT
@friendly
def score_cmd(candidates: tuple[str, ...], runner: str, patterns: tuple[str, ...], suite: str,
              seed: int, trials: int, out_dir: Path | None, resume: bool, jobs: int | None,
              executor_name: str | None, scheduler: str | None, profile: str | None,
              fail_under: float | None, baseline: Path | None, fail_on_regression: bool,
              cell_timeout: float, scenarios_dir: Path | None) -> None:
    """Score CANDIDATES (names under candidates/ or paths; none: all).

    Every finished cell is committed to OUT/results.sqlite as it ends; results.json,
    index.html, results.csv and junit.xml are rendered from it. --resume continues a run
    that was stopped or killed."""
    from harness.executors.choose import default_jobs, make_executor

    if fail_on_regression and baseline is None:
        raise UsageError("--fail-on-regression compares with a baseline: give --baseline"
                         " RESULTS.json (an earlier run's)")
    base = results_doc.load(baseline) if baseline is not None else None  # before any run
    chosen = resolve_candidates(list(candidates), api.ROOT, note=_say)
    profiles, languages = api.scoring_data()
    headline = profiles.get(profile or profiles.default).name  # an unknown name: exit 2 now
    scenarios, coverage = api.pick_scenarios(scenarios_dir, patterns, suite)
    kind = executor_name or ("dask" if scheduler else "local")
    if scheduler and kind != "dask":
        raise UsageError("--scheduler is the address of a Dask cluster: it needs --executor dask")
    workers = jobs or default_jobs()
    with outdir.claim(out_dir or api.ROOT / "reports" / "latest") as target, \
            Store.open(target, resume) as store:
        run_id = store.begin_run(sys.argv, resume)
        running = (f"running: run {run_id} (pid {os.getpid()}) has not finished; if no harness"
                   f" run holds {target} any more, it was stopped or killed, and `harness score"
                   " ... --resume` with the same arguments continues it")
        study = Study(chosen, [], store, target, seed, {"runner": runner}, "",
                      [s.name for s in scenarios], api.intents(chosen, languages), profiles,
                      headline, trials, coverage=coverage)
        study.render(running)  # at once: an earlier run's files must not pass for this run's
        picked = api.choose(runner, say=_say, limits=Limits(wall_s=cell_timeout))
        err.print(f"[bold]{picked.why}[/]", highlight=False)
        study.specs, study.yardstick = api.plan(chosen, scenarios, seed, picked.spec.kind, trials)
        study.facts, study.why = picked.facts, picked.why
        done = store.done()
        todo = [s for s in study.specs if s.key not in done]
        err.print(f"{len(chosen)} candidate(s) x {len(scenarios)} scenario(s)"
                  + (f" x {trials} trial(s)" if trials > 1 else "") + f", seed {seed}:"
                  f" {len(study.specs)} cell(s)"
                  + (f" (with {extra} of the throughput yardstick, {study.yardstick})"
                     if (extra := len(study.specs) - len(chosen) * len(scenarios) * trials) else "")
                  + (f", {len(study.specs) - len(todo)} already done in {store.path.name},"
                     f" {len(todo)} to run" if resume else ""), highlight=False, soft_wrap=True)
        if resume:
            study.render(running)

        def execute() -> None:
            with make_executor(kind, workers, picked.spec, cell_timeout, scheduler, _say,
                               cells=len(todo)) as ex, \
                    Progress(total=len(study.specs), already_done=len(study.specs) - len(todo),
                             workers=ex.workers, console=err) as bar:
                study.executor = ex.describe()
                for cell in ex.run(todo, started=bar.started):
                    store.put(cell)
                    bar.finished(cell)

        stopped = run_cells(execute, target)
        store.end_run(stopped.why if stopped else "complete")
        doc = study.render(stopped.why if stopped else "", base, baseline)
        finished = study.rendered  # the store, as the final render read it
    written = study.written
    if stopped is not None:
        err.print(f"[bold red]{'interrupted' if stopped.code == 130 else 'error'}:[/]"
                  f" {stopped.why}; {written}", highlight=False, soft_wrap=True)
        sys.exit(stopped.code)
    print_table(doc)
    err.print(written, highlight=False)
    models = {c["origin"].get("model", "") for c in doc["candidates"].values()} - {""}
    if len(models) > 1:
        err.print(f"{len(models)} models (origin.model): compare them with `harness compare"
                  f" {shlex.quote(str(target))}`", highlight=False, soft_wrap=True)
    broken = [c for c in finished if c.infra_error]
    if broken:  # the scores hold without these cells' checks: not a result to trust blindly
        err.print(f"[bold red]error:[/] {len(broken)} cell(s) could not be judged (infra_error,"
                  f" not counted against the candidates); the first: {broken[0].candidate} /"
                  f" {broken[0].scenario}: {broken[0].infra_error}", highlight=False,
                  soft_wrap=True)
        sys.exit(INTERNAL_EXIT)
    failed_gate = False
    if fail_under is not None:
        low = gate.below(doc, fail_under)
        on = gate.measured_on(doc)
        if low:
            err.print(f"[red]below --fail-under {fail_under} ({on}):[/] {', '.join(low)}",
                      highlight=False, soft_wrap=True)
        else:
            err.print(f"--fail-under {fail_under} met ({on})", highlight=False, soft_wrap=True)
        failed_gate = bool(low)
    if base is not None and fail_on_regression:
        found = gate.regressions(doc, base)
        stop = gate.gated(found)
        if found:
            err.print(f"[{'red' if stop else 'yellow'}]{len(found)} regression(s) since"
                      f" {baseline} (passed there, fail now):[/]", highlight=False)
            for r in found:
                err.print(f"  {r.says()}", highlight=False, markup=False, soft_wrap=True)
        else:
            err.print(f"no regression since {baseline}", highlight=False, soft_wrap=True)
        failed_gate = failed_gate or bool(stop)
    if failed_gate:
        sys.exit(1)


@dataclass(frozen=True, slots=True)
class Stopped:
    """Why a scoring run ended before its last cell, and the exit code that says so."""

    code: int
    why: str


def run_cells(score: Callable[[], object], folder: Path) -> Stopped | None:
    """score(); None when every cell ran, else why it stopped (the cells are closed)."""
    stopped = Stopped(130, "interrupted (Ctrl-C or SIGTERM); every cell was closed")
    try:
        score()
    except KeyboardInterrupt:
        return stopped
    except HarnessError as exc:
        return Stopped(exc.exit_code, str(exc))
    except Exception as exc:  # noqa: BLE001 - a harness bug must not lose the finished cells
        return Stopped(INTERNAL_EXIT, internal(exc, folder))
    return stopped if INTERRUPTS else None  # a stop signal whose exception was swallowed


def _named(c: dict[str, Any], outcome: Outcome) -> list[str]:
    """The candidate's scenario:check results with this outcome, sorted, each once."""
    return sorted({f"{x['scenario']}:{x['check']}" for x in c["checks"]
                   if x["outcome"] == outcome.value})


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _headline(c: dict[str, Any], headline: str) -> str:
    """The headline score: with trials, their mean ± the half-width of its interval."""
    half = half_width(c)
    if c.get("trials", 1) > 1 and c["score"] is not None:
        return f"{c['score']:.2f}" + (f" ±{half:.2f}" if half is not None else "")
    return _num(c["profiles"][headline]["score"])


def _flaky(c: dict[str, Any]) -> str:
    return ", ".join(f"{f['scenario']}:{f['check']} ({f['passed']} of"
                     f" {f['passed'] + f['failed']} trials passed)" for f in c.get("flaky", []))


def print_table(doc: dict[str, Any]) -> None:
    """The scores as a table that fits 80 columns, then each candidate's failed checks
    (and, with trials, its flaky ones)."""
    headline = doc["headline_profile"]
    trials = int(doc.get("trials", 1))
    names = [headline, *(p for p in doc["profiles"] if p != headline)]
    coverage = coverage_of(doc)
    partial = f"PARTIAL RUN ({coverage.short()}): " if coverage.partial else ""
    table = Table(box=box.SIMPLE_HEAD, title=partial + "scores (* headline profile"
                  + (f": mean of {trials} trials ± half its 95% interval" if trials > 1 else "")
                  + "; ! capped by a failed fatal check of a claimed core capability)")
    table.add_column("candidate", no_wrap=True)
    for p in names:
        table.add_column(p.replace("-", "-\n") + (" *" if p == headline else ""),
                         justify="right", no_wrap=True)
    table.add_column("exec", justify="right", no_wrap=True)
    table.add_column("intent", justify="right", no_wrap=True)
    table.add_column("pass/\nfail/\nnot ex/\ninfra", justify="right", no_wrap=True)
    ranked = sorted(doc["candidates"].items(), key=lambda kv: -(kv[1]["score"] or 0))
    for name, c in ranked:
        t = c["tally"]
        table.add_row(name, *((_headline(c, headline) if p == headline
                               else _num(c["profiles"][p]["score"]))
                              + (" !" if c["profiles"][p]["capped"] else "") for p in names),
                      _num(c["execution_score"]), _num(c["intent_score"]),
                      f"{t['pass']}/{t['fail']}/{t.get('not_exercised', 0)}/{t['infra_error']}")
    out.print(table)
    if coverage.partial:  # said again under the table, where the eye lands
        out.print(f"partial run: these scores judge {len(coverage.run)} of"
                  f" {len(coverage.every)} scenarios ({coverage.picked_by()}); not comparable"
                  f" with a full run's. Left out: {', '.join(coverage.missing)}",
                  highlight=False, markup=False, soft_wrap=True)
    for line in terminal_lines(doc):  # measured beside the scores, never in them
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    for name, c in ranked:
        if c.get("flaky"):  # passed in some trials and failed in others
            out.print(f"{name} flaky: {_flaky(c)}", highlight=False, soft_wrap=True)
        failed = _named(c, Outcome.FAIL)
        if failed:
            out.print(f"{name} failed: {', '.join(failed)}", highlight=False, soft_wrap=True)
        unexercised = _named(c, Outcome.NOT_EXERCISED)
        if unexercised:  # left out of the score, so said out loud
            out.print(f"{name} not exercised (left out of the score): {', '.join(unexercised)}",
                      highlight=False, soft_wrap=True)
        intent = c.get("intent", {})
        if intent.get("withheld"):
            said = (intent["withheld"] + f" ({FALLBACK})"
                    if intent.get("language_known") is False
                    else f"intent not credited: {intent['withheld']}")
            out.print(f"{name} {said}", highlight=False, markup=False, soft_wrap=True)


@main.command("gc")
@click.option("--all", "everything", is_flag=True,
              help="Also remove containers of harness runs that are still running.")
@click.option("--images", is_flag=True, help="Also remove cached candidate images.")
@friendly
def gc_cmd(everything: bool, images: bool) -> None:
    """Remove containers and cell folders left by harness runs that were killed, and the
    host copies of images that are gone."""
    from harness import owner
    from harness.container import hostcopy
    from harness.container.client import collect, connect, remove_candidate_images

    dirs = owner.sweep()
    client = connect()
    done = collect(client, everything=everything)
    removed_images = remove_candidate_images(client) if images else []
    copies = hostcopy.collect(client)
    out.print(f"removed {len(done.removed)} container(s), {len(dirs)} cell folder(s)"
              + (f", {len(removed_images)} candidate image(s)" if images else "")
              + f", {len(copies)} host cop{'y' if len(copies) == 1 else 'ies'} of images"
              + (f"; kept {len(done.kept)} of harness runs still running (--all removes them)"
                 if done.kept else ""), highlight=False)


@main.group("image")
def image_group() -> None:
    """The images candidates run in."""


@image_group.command("bootstrap")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
@friendly
def bootstrap_cmd(force: bool) -> None:
    """Build the Python base image from Debian's packages, with no registry."""
    from harness.container import images
    from harness.container.client import connect

    client = connect()
    found = images.bootstrap(client, _say, force=force)
    out.print(f"{images.BASE_IMAGE} {found}", highlight=False)


@image_group.command("name")
def image_name_cmd() -> None:
    """Print the base image's name (to save, load or cache it; no daemon needed)."""
    from harness.container import images

    out.print(images.BASE_IMAGE, highlight=False, markup=False)


# Commands kept in modules of their own register themselves on `main` when imported.
from harness import (  # noqa: E402,F401
    cli_compare,
    cli_import,
    cli_intent,
    cli_mutants,
    cli_replay,
    cli_report,
)
