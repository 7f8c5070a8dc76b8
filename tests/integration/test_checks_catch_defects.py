"""Each scenario catches the defect it targets: a check that nothing can make fail is
not a check. Every defect is the reference with one behaviour broken
(tests/fixtures/broken_engine.py); the check aimed at it must fail, with evidence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import api
from harness.checks import REGISTRY, load_all
from harness.manifest import load_candidate
from harness.model import Outcome
from harness.runners.local import LocalRunner

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "broken_engine.py"
SEED = 5

# defect -> (scenario, checks that must fail)
AIMED: dict[str, tuple[str, tuple[str, ...]]] = {
    "truncating-log": ("crash-loop", ("log.append_only",)),
    "seq-restart": ("crash-loop", ("log.seq_contiguous",)),
    "no-resumed-event": ("crash-loop", ("crash.resumed_event",)),
    "rerun-succeeded": ("crash-loop", ("crash.no_rerun_after_success",)),
    "no-lost": ("crash-loop", ("crash.lost_recorded",)),
    "resume-crashes": ("crash-loop", ("crash.completes",)),
    "stale-pidfile-lock": ("crash-loop", ("crash.dead_lock_ignored",)),
    "torn-tail-crash": ("torn-tail", ("tail.run_recovers",)),
    "status-repairs": ("torn-tail", ("tail.status_ignores_torn",)),
    "skip-corrupt": ("corrupt-middle", ("corrupt.run_refuses", "corrupt.status_refuses")),
    "child-only-timeout": ("timeout-kills-group", ("procs.timeout_group_ended",
                                                   "procs.none_survive")),
    "timeout-as-exit": ("timeout-kills-group", ("procs.timeout_reason",)),
    "timeout-not-retried": ("timeout-kills-group", ("procs.retry_after_timeout",)),
    "sigterm-leaves-groups": ("sigterm", ("procs.signal_groups_ended",)),
    "sigterm-exit-zero": ("sigint", ("procs.signal_exit",)),
    "no-orphan-kill": ("orphans-after-sigkill", ("procs.orphans_ended_before_rerun",)),
    "blocking-backoff": ("retry-backoff", ("retry.progress_during_backoff",)),
    "early-retry": ("retry-backoff", ("retry.not_early",)),
    "late-retry": ("retry-backoff", ("retry.not_late",)),
    "extra-attempt": ("retry-exhausted", ("retry.attempt_counts",)),
    "failed-exit-zero": ("retry-exhausted", ("retry.exhausted_fails",)),
    "republish-outputs": ("duplicate-outputs", ("outputs.once",)),
    "no-publish": ("clean-run", ("outputs.published",)),
    "temp-in-outputs": ("clean-run", ("outputs.no_temp",)),
    "accepts-unknown-keys": ("invalid-workflow", ("inputs.invalid_rejected",)),
    "mkdir-first": ("invalid-workflow", ("inputs.invalid_leaves_no_state",)),
    "status-no-log-zero": ("invalid-workflow", ("inputs.status_without_log",)),
    "no-lock": ("concurrent-run", ("lock.second_run_refused",)),
    "lock-after-write": ("concurrent-run", ("lock.second_run_changes_nothing",)),
    "dies-on-sigcont": ("concurrent-run", ("lock.first_run_completes",)),
    "ignores-digest": ("changed-workflow", ("inputs.changed_workflow_refused",)),
    "parallel-ignored": ("clean-run", ("dag.parallel_bound",)),
    "serial": ("clean-run", ("dag.parallel_reached",)),
    "deps-ignored": ("clean-run", ("dag.dependency_order",)),
    "exit-one": ("clean-run", ("dag.exit_zero",)),
    "double-run": ("clean-run", ("dag.ran_once",)),
    "no-terminal-event": ("clean-run", ("log.ends_once",)),
    "event-names": ("clean-run", ("log.schema",)),
    "wrong-digest": ("clean-run", ("log.started_first",)),
    "fake-pids": ("clean-run", ("log.attempts_recorded",)),
    "status-off-by-one": ("clean-run", ("status.matches",)),
    "status-writes": ("clean-run", ("status.read_only",)),
}


def broken(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    folder = tmp_path / name
    folder.mkdir()
    (folder / "candidate.toml").write_text(
        f'name = "broken-{name}"\nlanguage = "python"\n'
        f'entrypoint = ["{sys.executable}", "{FIXTURE}", "{name}"]\n')
    return load_candidate(folder)


def test_every_check_is_aimed_at_by_some_defect() -> None:
    aimed = {c for _, checks in AIMED.values() for c in checks}
    assert sorted(set(load_all()) - aimed) == []


@pytest.mark.parametrize("name", sorted(AIMED))
def test_the_aimed_check_fails_with_evidence(tmp_path: Path, name: str) -> None:
    scenario_name, checks = AIMED[name]
    scenario = api.all_scenarios(pattern=scenario_name)[0]
    cell = api.run_cell(LocalRunner(), broken(tmp_path, name), scenario, SEED)
    by_check = {r.check: r for r in cell.results}
    for check in checks:
        result = by_check[check]
        assert result.outcome is Outcome.FAIL, (check, result)
        assert result.evidence, check
        ev = result.evidence[0]
        assert ev.expected and ev.seen and ev.where
    assert REGISTRY  # the registry is populated by all_scenarios()
