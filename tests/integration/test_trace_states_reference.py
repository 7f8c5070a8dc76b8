"""Crash states built from the reference engine's recorded clean-run.

The reference runs under strace as in test_trace_reference.py. Its final prefix state
must be the files it left on disk, and every power-loss state must hold a valid log by
TASK.md's rules (whole events in seq order, then at most one torn final line) that keeps
every event already acted on: a STEP_SUCCEEDED once its output was published or a
dependent's STEP_STARTED was written. The same judgement must fail on the calls of an
engine that never fsyncs (the recorded calls with every fsync dropped), and on one
that never fsyncs its log, whose power-loss states hold a published output whose
STEP_SUCCEEDED is gone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.trace import DurabilityCall, Kind, durability_calls, log_events
from harness.trace.states import power_loss_states, prefix_states
from tests.integration.test_trace_reference import _run_traced

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not on PATH"),
]


@pytest.fixture(scope="module")
def recorded(root: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[list[DurabilityCall], Path, dict[str, list[str]]]:
    tmp = tmp_path_factory.mktemp("states").resolve()
    calls, state, deps = _run_traced(root, tmp)
    return durability_calls(calls, str(state)), state, deps


def _log_broken(log: bytes) -> list[str]:
    """TASK.md's log rules: complete lines are JSON objects with seq 1, 2, 3 ...; only
    the final line may be torn (no newline, or not JSON)."""
    lines = log.splitlines(keepends=True)
    broken = []
    for n, raw in enumerate(lines, 1):
        try:
            doc = json.loads(raw) if raw.endswith(b"\n") else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            if n < len(lines):
                broken.append(f"line {n} is damaged, not a torn final line")
        elif doc.get("seq") != n:
            broken.append(f"line {n} has seq {doc.get('seq')}")
    return broken


def _events(log: bytes) -> list[dict[str, object]]:
    """The log's complete events (a torn final line left out)."""
    out = []
    for raw in log.splitlines(keepends=True):
        try:
            doc = json.loads(raw) if raw.endswith(b"\n") else None
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _acted_on(calls: list[DurabilityCall], k: int, deps: dict[str, list[str]]) -> set[str]:
    """Steps whose STEP_SUCCEEDED was acted on by the first k calls."""
    events = log_events(calls)
    acted = {dc.step for dc in calls[:k] if dc.kind is Kind.PUBLISH and dc.step}
    for dc in calls[:k]:
        for index in dc.events if dc.kind is Kind.LOG_WRITE and not dc.partial else ():
            doc = events[index].event or {}
            if doc.get("type") == "STEP_STARTED":
                acted |= set(deps.get(str(doc.get("step")), []))
    return acted


def _judge(calls: list[DurabilityCall], deps: dict[str, list[str]]) -> list[str]:
    broken = []
    for state in power_loss_states(calls):
        log = state.contents.get("events.jsonl", b"")
        kept = {doc.get("step") for doc in _events(log) if doc.get("type") == "STEP_SUCCEEDED"}
        broken += [f"{state.name}: {b}" for b in _log_broken(log)]
        broken += [f"{state.name}: the STEP_SUCCEEDED of {step} is lost, though acted on "
                   f"({state.explanation})" for step in sorted(_acted_on(calls, state.k, deps))
                   if step not in kept]
    return broken


def test_the_final_prefix_is_what_the_reference_left_on_disk(
        recorded: tuple[list[DurabilityCall], Path, dict[str, list[str]]]) -> None:
    calls, state, _ = recorded
    final = prefix_states(calls)[-1]
    on_disk = {str(p.relative_to(state)): p.read_bytes() for p in state.rglob("*") if p.is_file()}
    assert final.contents == on_disk
    assert set(final.dirs) == {str(p.relative_to(state)) for p in state.rglob("*") if p.is_dir()}


def test_every_power_loss_state_of_the_reference_keeps_a_valid_log(
        recorded: tuple[list[DurabilityCall], Path, dict[str, list[str]]]) -> None:
    calls, _, deps = recorded
    assert len(power_loss_states(calls)) > 20
    assert _judge(calls, deps) == []


def test_without_fsync_a_power_loss_loses_an_event_already_acted_on(
        recorded: tuple[list[DurabilityCall], Path, dict[str, list[str]]]) -> None:
    calls, _, deps = recorded
    no_fsync = [dc for dc in calls if dc.kind is not Kind.SYNC]
    broken = _judge(no_fsync, deps)
    assert any("STEP_SUCCEEDED of prepare is lost" in b for b in broken), broken


def test_without_log_fsync_a_published_output_outlives_its_success(
        recorded: tuple[list[DurabilityCall], Path, dict[str, list[str]]]) -> None:
    calls, _, deps = recorded
    no_log_fsync = [dc for dc in calls if not (dc.kind is Kind.SYNC and dc.file == "events.jsonl")]
    assert _judge(no_log_fsync, deps)
    outlived = [s for s in power_loss_states(no_log_fsync) if "outputs/prepare" in s.contents
                and b'"STEP_SUCCEEDED"' not in s.contents.get("events.jsonl", b"")]
    assert outlived
    assert "was written but never fsynced" in outlived[0].explanation
