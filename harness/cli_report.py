"""`harness report`: the HTML report, results.csv and junit.xml from a results.json.

`harness score` runs the same code at its end; this command re-renders a saved run, or
compares it with a baseline run (regressions and fixes per check). A results file that
does not match the schema exits 2 and writes nothing; the output folder is checked and
locked as `harness score` does it.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness import outdir
from harness.cli import err, friendly, main
from harness.report import doc as results_doc
from harness.report.write import write_report


@main.command("report")
@click.argument("results_json", type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path), default=None,
              help="An earlier run's results.json: show regressions and fixes against it.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder [default: the folder of RESULTS_JSON].")
@friendly
def report_cmd(results_json: Path, baseline: Path | None, out_dir: Path | None) -> None:
    """Write index.html, results.csv and junit.xml for RESULTS_JSON."""
    doc = results_doc.load(results_json)
    base = results_doc.load(baseline) if baseline is not None else None
    with outdir.claim(out_dir or results_json.parent) as target:  # not beside a running score
        written = write_report(doc, target, base, str(baseline) if baseline else "")
    err.print(f"wrote {written.html}, {written.csv.name}, {written.junit.name}", highlight=False)
