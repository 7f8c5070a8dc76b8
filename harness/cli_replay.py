"""`harness replay-state`: run status, then run, on a crash state that a run saved.

A crash-states cell that failed saves its first failing state under the run's output
folder (`harness.replay`); the report and the results name this command with its
arguments. It resumes that state in a fresh cell, with the candidate given, and prints
what status and run did, which steps ran, and the log's end.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness import api, replay
from harness.checks.common import excerpt, stderr_text
from harness.cli import err, friendly, main
from harness.errors import UsageError
from harness.faults.crashstates import succeeded_in
from harness.manifest import resolve_candidates


@main.command("replay-state")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--candidate", "candidate_path", required=True,
              help="The candidate to resume the state with (a name or a folder).")
@click.option("--runner", default="auto", show_default=True,
              type=click.Choice(["auto", "docker", "local"]), help="Where to run it.")
@friendly
def replay_cmd(folder: Path, candidate_path: str, runner: str) -> None:
    """Resume the crash state saved in FOLDER: status, then run, in a fresh cell."""
    saved = replay.load_saved(folder)
    [candidate] = resolve_candidates([candidate_path], api.ROOT)
    name = str(saved.meta.get("scenario") or "")
    matches = [s for s in api.all_scenarios() if s.name == name]
    if not matches:
        raise UsageError(f"{folder}/meta.json names scenario {name!r}, which this harness"
                         " does not have")
    err.print(f"state '{saved.meta.get('state')}' ({saved.meta.get('model')}):"
              f" {saved.meta.get('explanation')}", highlight=False, markup=False, soft_wrap=True)
    opened, why = api.choose_runner(runner, say=lambda m: err.print(m, highlight=False,
                                                                    markup=False))
    err.print(f"runner: {opened.name} ({why})", highlight=False, markup=False, soft_wrap=True)
    with opened:
        done = replay.replay(saved, opened, candidate, matches[0])
    for inv in (done.status, done.run):
        err.print(f"{inv.describe()}; stderr: {stderr_text(inv) or '(empty)'}",
                  highlight=False, markup=False, soft_wrap=True)
    err.print(f"steps started by the replay: {', '.join(done.steps_started) or 'none'}",
              highlight=False, markup=False, soft_wrap=True)
    done_before = succeeded_in(saved.files.get("events.jsonl"))
    again = [s for s in done.steps_started if s in done_before]
    if again:
        err.print(f"ran again though the state's log holds their STEP_SUCCEEDED:"
                  f" {', '.join(again)}", highlight=False, markup=False, soft_wrap=True)
    err.print("the log after run:\n" + excerpt(done.log_after), highlight=False, markup=False, soft_wrap=True)
