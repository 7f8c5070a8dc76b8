"""`harness intent`: show a candidate's design signals without running anything.

For each capability: whether the manifest claims it, and every signal found, with
file:line and what it is taken to mean. Intent = claimed and at least one signal.
"""

from __future__ import annotations

import click
from rich.table import Table
from rich.text import Text

from harness import api
from harness.cli import friendly, main, out
from harness.intent import FALLBACK
from harness.manifest import resolve_candidates
from harness.model import CAPABILITIES


@main.command("intent")
@click.argument("candidates", nargs=-1)
@click.option("--all-signals", is_flag=True, help="List every signal, not only the first of each.")
@friendly
def intent_cmd(candidates: tuple[str, ...], all_signals: bool) -> None:
    """Static design signals of CANDIDATES (names under candidates/ or paths; none: all)."""
    _, languages = api.scoring_data()
    for c in resolve_candidates(list(candidates), api.ROOT):
        intent = api.intents([c], languages)[c.name]
        if intent.score is None:
            title = Text(f"{c.name}: {intent.not_judged} (add scenarios/scoring/signals/"
                         f"{c.language.lower()}.toml; {FALLBACK})")
        else:
            title = Text(f"{c.name}: intent {intent.score:.2f}/10")
        table = Table("capability", "claimed", "intent", "signals (file:line, what it shows)",
                      title=title, show_lines=False)
        for cap in CAPABILITIES:
            hits = intent.signals(cap)
            shown = hits if all_signals else hits[:1]
            text = "\n".join(f"{h.file}:{h.line} {h.means}: {h.text}" for h in shown)
            if len(hits) > len(shown):
                text += f"\n(+{len(hits) - len(shown)} more)"
            table.add_row(cap, "yes" if cap in c.claims else "no",
                          "yes" if intent.has_intent(cap) else "no", text or "-")
        out.print(table, highlight=False, markup=False)
