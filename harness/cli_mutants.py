"""`harness mutants`: run the mutant suite and report the mutation score.

Kept apart from harness/cli.py so that the score command's module stays small; it is
registered on the same click group. The exit code gates CI: 0 when every judged mutant
was caught by the checks aimed at it, 1 when one survived.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from harness import api, cells, mutants, outdir
from harness.cli import SCENARIOS_OPT, _say, err, friendly, main, out
from harness.model import Candidate, CellResult, Scenario
from harness.report.results import write_atomic
from harness.runners.limits import Limits


def _progress(r: mutants.MutantResult) -> None:
    mark = ("[green]caught[/]" if r.caught else "[yellow]UNJUDGED[/]" if not r.judged
            else "[red]SURVIVED[/]")
    err.print(f"  {mark} {r.name} ({r.scenario}: {', '.join(f'{k}={o}' for k, o in r.outcomes)})",
              highlight=False)


@main.command("mutants")
@click.argument("names", nargs=-1)
@click.option("--runner", default="auto", show_default=True,
              type=click.Choice(["auto", "local", "docker"]))
@click.option("--seed", default=1, show_default=True, type=int, help="Seeds every fault plan.")
@click.option("--jobs", default=None, type=click.IntRange(min=1),
              help="Mutants run at once [default: the measured default, as harness score].")
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Output folder [default: reports/latest].")
@SCENARIOS_OPT
@friendly
def mutants_cmd(names: tuple[str, ...], runner: str, seed: int, jobs: int | None,
                out_dir: Path | None, scenarios_dir: Path | None) -> None:
    """Run each mutant (candidates/mutants/NAME; none named: all) in its scenario."""
    found = mutants.discover(api.ROOT, names)
    scenarios = api.all_scenarios(scenarios_dir)
    mutants.validate(found, scenarios)
    with outdir.claim(out_dir or api.ROOT / "reports" / "latest") as folder:  # before any cell
        _run_mutants(found, scenarios, runner, seed, jobs, folder)


def _run_mutants(found: list[Candidate], scenarios: list[Scenario], runner: str, seed: int,
                 jobs: int | None, folder: Path) -> None:
    from harness.executors.choose import default_jobs, make_executor

    picked = api.choose(runner, say=_say, limits=Limits())
    err.print(f"[bold]{picked.why}[/]", highlight=False)
    by_name = {s.name: s for s in scenarios}
    specs = {c.path: cells.plan([c], [by_name[c.mutant.scenario]], seed, picked.spec.kind,
                                api.reproduce_command)[0]
             for c in found if c.mutant is not None}
    ran: dict[Path, CellResult] = {}
    by_key = {spec.key: path for path, spec in specs.items()}
    with make_executor("local", jobs or default_jobs(), picked.spec, api.CELL_TIMEOUT_S, None,
                       _say, cells=len(specs)) as ex:
        for cell in ex.run(list(specs.values())):
            ran[by_key[cell.key]] = cell
            _progress(mutants.judge(next(c for c in found if c.path == by_key[cell.key]), cell))
    results = mutants.run(found, scenarios, lambda c, s: ran[c.path])
    summary = mutants.mutation_score(results)
    table = Table("mutant", "scenario", "aimed checks", "caught", "also failed",
                  title="mutants")
    for r in results:
        table.add_row(r.name, r.scenario, ", ".join(f"{k}: {o}" for k, o in r.outcomes),
                      "yes" if r.caught else ("n/a" if not r.judged else "NO"),
                      ", ".join(r.also_failed[:3]) + (" ..." if len(r.also_failed) > 3 else ""))
    out.print(table)
    score = summary["score"]
    out.print(f"mutation score: {summary['caught']}/{summary['judged']} caught"
              + (f" ({score:.0%})" if score is not None else "")
              + (f"; {len(summary['unjudged'])} unjudged (infra errors, or an aimed check not exercised): "
                 f"{', '.join(summary['unjudged'])}" if summary["unjudged"] else ""),
              highlight=False)
    target = folder / "mutants.json"
    doc = {"seed": seed, "runner": picked.facts, **summary,
           "results": [r.to_json() for r in results]}
    write_atomic(target, (json.dumps(doc, indent=2) + "\n").encode())
    err.print(f"wrote {target}", highlight=False)
    if summary["survivors"]:
        err.print(f"[red]survived:[/] {', '.join(summary['survivors'])}")
        sys.exit(1)
