"""The bundled candidates' design intent, held to what the move from line regexes to
syntax-tree signals had to keep: per candidate, exactly the capabilities with a signal.

Every mutant extends the reference and shows all 13, as do the reference and model-a.
model-b shows neither process_groups nor nonblocking_backoff: it starts each step with a
plain Popen (no session, no group; it only reads the child's pgid), ends it with
terminate()/kill() on the leader alone, and sleeps out a backoff inside its scheduler
loop. Those absences are findings of the human review, and no signal may paper over them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import ROOT, scoring_data
from harness.intent import Intent, find_signals
from harness.manifest import load_candidate

_, LANGUAGES = scoring_data()
CANDIDATES = ROOT / "candidates"

ALL = frozenset({
    "durable_log", "crash_recovery", "torn_tail_recovery", "replay_status", "process_groups",
    "timeouts", "retries", "nonblocking_backoff", "exactly_once_outputs", "parallelism",
    "dependency_order", "input_validation", "single_writer_lock",
})
MODEL_B = frozenset({
    "durable_log", "crash_recovery", "torn_tail_recovery", "replay_status",
    "timeouts", "retries", "exactly_once_outputs", "parallelism",
    "dependency_order", "input_validation", "single_writer_lock",
})
MUTANTS = (
    "acts-before-durable", "blocking-backoff", "child-only-timeout", "cycle-accepted",
    "deps-ignored", "event-names", "extra-attempt", "ignores-digest", "no-dir-fsync",
    "no-fsync", "no-lock", "no-orphan-kill", "output-in-place", "parallel-ignored",
    "rename-before-sync", "rerun-succeeded", "seq-restart", "skip-corrupt",
    "split-event-write", "status-rewrites-log", "torn-tail-crash", "truncating-log",
)
EXPECTED: dict[str, frozenset[str]] = {
    "reference": ALL,
    "model-a": ALL,
    "model-b": MODEL_B,
    **{f"mutants/{m}": ALL for m in MUTANTS},
}


def _intent(folder: str) -> Intent:
    return find_signals(load_candidate(CANDIDATES / folder), LANGUAGES)


def test_every_bundled_candidate_is_listed() -> None:
    found = {"reference", "model-a", "model-b",
             *(f"mutants/{p.name}" for p in (CANDIDATES / "mutants").iterdir() if p.is_dir())}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_signalled_capabilities_are_exactly_the_expected(folder: str) -> None:
    intent = _intent(folder)
    assert intent.language_known
    assert {h.capability for h in intent.hits} == EXPECTED[folder]


def test_model_b_neither_groups_nor_backs_off_without_sleeping() -> None:
    intent = _intent("model-b")
    assert intent.signals("process_groups") == []
    assert intent.signals("nonblocking_backoff") == []
    assert not intent.has_intent("process_groups")  # claimed, but no group is ever made


def test_every_reference_hit_shows_the_line_it_points_at() -> None:
    ref = load_candidate(CANDIDATES / "reference")
    intent = find_signals(ref, LANGUAGES)
    assert intent.hits
    for hit in intent.hits:
        path: Path = ref.path / hit.file
        line = path.read_text(encoding="utf-8").splitlines()[hit.line - 1]
        assert hit.text == line.strip(), f"{hit.file}:{hit.line}"
