"""`harness compare`: merge scored runs, group their candidates, and compare the groups.

A thin command over `harness.groups` (the statistics), `harness.report.compare_inputs`
(which runs may be merged) and `harness.report.compare_files` (what is written). Every
input is read and checked before the output folder is touched, so a malformed or
incomparable run exits 2 with nothing written. The output folder is claimed (made,
checked, locked) as `harness score` claims its own.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from harness import api, groups, outdir
from harness.cli import err, friendly, main, out
from harness.report import compare_files, compare_inputs
from harness.report.compare_view import interval_text, num


@main.command("compare")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Output folder [default: reports/compare].")
@click.option("--group-by", "group_by", default=groups.DEFAULT_KEY, show_default=True,
              help="The origin key candidates are grouped by (origin.KEY).")
@click.option("--allow-mixed", is_flag=True,
              help="Compare runs of another harness version, scenario set, trial count or"
                   " headline profile, or incomplete runs, with a warning instead of refusing.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds the bootstrap and permutation tests: the same seed, the same report.")
@friendly
def compare_cmd(runs: tuple[Path, ...], out_dir: Path | None, group_by: str, allow_mixed: bool,
                seed: int) -> None:
    """Compare groups of candidates across RUNS (run folders or results.json files)."""
    groups.origin_key(group_by)
    loaded = compare_inputs.load(runs)
    warnings = compare_inputs.check(loaded, allow_mixed)
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    cmp = groups.compare([r.doc for r in loaded], group_by, seed)
    with outdir.claim(out_dir or api.ROOT / "reports" / "compare") as folder:
        written = compare_files.write(cmp, loaded, folder, warnings)
    print_comparison(cmp)
    err.print(f"wrote {', '.join(str(written.folder / n) for n in written.names)}",
              highlight=False)


def print_comparison(cmp: groups.Comparison) -> None:
    table = Table("#", "group", "n", "mean", "95% interval", "pass@1 (10)", "pass@1 (no fatal)",
                  title=f"groups by {cmp.key}")
    for i, g in enumerate(cmp.groups, 1):
        table.add_row(str(i), g.name + ("" if g.keyed else f" (no {cmp.key})"), str(g.n),
                      num(g.mean), interval_text(g.interval),
                      num(g.pass_10[0]) if g.pass_10 else "-",
                      num(g.pass_no_fatal[0]) if g.pass_no_fatal else "-")
    out.print(table)
    for p in cmp.pairs:
        diff = "-" if p.diff is None else f"{p.diff:+.2f}"
        pval = "-" if p.p is None else f"{p.p:.3f}"
        out.print(f"{p.a} vs {p.b}: {diff} {interval_text(p.interval)}, p = {pval}:"
                  f" {p.verdict}", highlight=False, soft_wrap=True)
