"""`harness import`: model generations (a predictions JSONL file) into candidate folders.

Kept apart from harness/cli.py, and registered on the same click group. The work is in
`harness.predictions`; this only reads the options, calls it and says what was written
and how to score it. A bad line exits 2 with one line naming it; nothing is written.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from harness import predictions
from harness.cli import friendly, main, out


@main.command("import")
@click.argument("predictions_file", metavar="PREDICTIONS.jsonl", type=click.Path(path_type=Path))
@click.option("--into", "into", required=True, type=click.Path(path_type=Path),
              help="Folder to write the candidate folders into (new, or empty).")
@friendly
def import_cmd(predictions_file: Path, into: Path) -> None:
    """Turn each line of PREDICTIONS.jsonl into a candidate folder under --into.

    A line is one JSON object: "model" (string), "sample" (string or integer), "files"
    (relative path -> text), and optionally "entrypoint", "language", "claims" and
    "prompt_version". Each becomes the folder INTO/<model>--<sample>."""
    found = predictions.read(predictions_file)
    target = predictions.write(found, into, predictions_file.name)
    models = sorted({p.model for p in found})
    named = ", ".join(models[:5]) + (" ..." if len(models) > 5 else "")
    out.print(f"wrote {len(found)} candidate folder(s) for {len(models)} model(s) ({named})"
              f" into {target}", highlight=False, soft_wrap=True)
    out.print(f"score them: harness score {shlex.quote(str(into))} --trials 3", highlight=False,
              soft_wrap=True)
