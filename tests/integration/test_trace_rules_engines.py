"""harness.trace.rules on recorded clean runs: the reference keeps every rule, and each
durability mutant (candidates/mutants/, single-defect variants of the reference whose
aimed checks in clean-run are harness.checks.durability's) breaks the rule aimed at it.

The engines run directly under strace through tests/trace_run.py, as in
test_trace_reference. no-fsync breaks every rule that asks for an fsync
(unsynced_events, published_before_synced, unsynced_directories): it has no fsync of any
kind, so that is its defect, not a second one. Each of the other three breaks its own
rule only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.trace import durability_calls
from harness.trace.rules import NOT_DEMANDED, RULES, judge, unsynced_output_directories
from tests.trace_run import run_traced

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]

MUTANTS = Path(__file__).resolve().parents[2] / "candidates" / "mutants"
BROKEN = {  # mutant -> the rules it breaks (the first is the one aimed at it)
    "no-fsync": ("unsynced_events", "published_before_synced", "unsynced_directories"),
    "rename-before-sync": ("published_before_synced",),
    "split-event-write": ("split_events",),
    "no-dir-fsync": ("unsynced_directories",),
}


def _findings(root: Path, tmp: Path, source: Path) -> tuple[dict[str, list[str]], list[str]]:
    calls, state, _ = run_traced(root, tmp.resolve(), source)
    mapped = durability_calls(calls, str(state))
    return judge(mapped), unsynced_output_directories(mapped)


def test_the_reference_breaks_no_rule(root: Path, tmp_path: Path) -> None:
    found, notes = _findings(root, tmp_path, root / "candidates" / "reference")
    assert found == {name: [] for name in RULES}
    assert notes == []


def test_every_rule_is_aimed_at_a_mutant() -> None:
    assert {rules[0] for rules in BROKEN.values()} == set(RULES)
    assert all((MUTANTS / name / "candidate.toml").is_file() for name in BROKEN)


@pytest.mark.parametrize("mutant", sorted(BROKEN))
def test_each_mutant_breaks_exactly_its_rules(root: Path, tmp_path: Path, mutant: str) -> None:
    found, notes = _findings(root, tmp_path, MUTANTS / mutant)
    assert {name for name, lines in found.items() if lines} == set(BROKEN[mutant]), found
    aimed = found[BROKEN[mutant][0]]
    assert all("trace line" in line and "pid" in line for line in aimed), aimed
    if mutant in ("no-fsync", "no-dir-fsync"):  # outputs/ is never fsynced: noted, not failed
        assert notes and all(n.startswith(NOT_DEMANDED) for n in notes)
    else:
        assert notes == []


def test_findings_name_the_event_or_output(root: Path, tmp_path: Path) -> None:
    found, _ = _findings(root, tmp_path, MUTANTS / "split-event-write")
    assert found["split_events"][0].startswith("the WORKFLOW_STARTED (seq 1) was written in 2 writes")
    assert any("the STEP_SUCCEEDED of step join" in line for line in found["split_events"])
