"""harness.trace.plan on the canned traces of tests/data/strace/ and on hand-made calls.

The ordinals must be the ones strace's inject counter sees (per thread, per syscall,
per path touched), the main process the one that writes the log, a point another process
would also reach marked ambiguous and refused, and `choose` a pure function of the
points, the seed and the limit.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.faults.exact import Recording, fresh_point
from harness.trace import TraceError, durability_calls, parse_trace
from harness.trace.durability import DurabilityCall
from harness.trace.plan import (
    CrashPlan,
    CrashPoint,
    choose,
    crash_points,
    inject_argv,
    log_before,
    plan_from_json,
    plan_json,
)
from harness.trace.strace import Call

DATA = Path(__file__).resolve().parent.parent / "data" / "strace"
FORK_STATE = "/tmp/tr/s/st"
REF_STATE = "/tmp/tr/st"
S = "/s"  # the hand-made calls' STATE_DIR
LOG = f"{S}/events.jsonl"


def _points(name: str, state: str) -> list[CrashPoint]:
    return crash_points(durability_calls(parse_trace((DATA / name).read_text()), state))


def _call(pid: int, syscall: str, *paths: str, data: bytes | None = None) -> Call:
    ret = len(data) if data is not None else 0
    return Call(line=0, pid=pid, ts=None, syscall=syscall, paths=paths, data=data, ret=ret)


def _hand(calls: list[Call]) -> list[CrashPoint]:
    numbered = [Call(i + 1, c.pid, c.ts, c.syscall, c.paths, data=c.data, ret=c.ret)
                for i, c in enumerate(calls)]
    return crash_points(durability_calls(numbered, S))


def _event(seq: int, kind: str, step: str | None = None) -> bytes:
    doc: dict[str, object] = {"seq": seq, "type": kind}
    if step is not None:
        doc["step"] = step
    return json.dumps(doc).encode() + b"\n"


def test_reference_points_are_its_log_writes_fsyncs_and_links_with_their_ordinals() -> None:
    points = _points("reference-clean-run.txt", REF_STATE)
    assert [(p.index, p.syscall, p.path, p.ordinal) for p in points] == [
        (7, "fsync", ".", 1), (11, "fsync", ".", 2),
        (13, "write", "events.jsonl", 1), (14, "fsync", "events.jsonl", 1),
        (19, "write", "events.jsonl", 2), (20, "fsync", "events.jsonl", 2),
        (25, "write", "events.jsonl", 3), (26, "fsync", "events.jsonl", 3),
        (29, "fsync", "work/prepare.1.out", 1), (31, "link", "outputs/prepare", 1),
        (33, "fsync", "outputs", 1),
    ]
    assert {p.role for p in points} == {"engine"}
    described = {p.index: p.description for p in points}
    assert described[7] == "the fsync of STATE_DIR before any event"
    assert described[11] == "the 2nd fsync of STATE_DIR before any event"  # no two alike
    assert described[19] == "the write of STEP_STARTED prepare"
    assert described[20] == "the fsync of events.jsonl after STEP_STARTED prepare"
    assert described[25] == "the write of STEP_SUCCEEDED prepare"
    assert described[31] == "the link of outputs/prepare"
    assert len(set(described.values())) == len(points)


def test_the_reference_output_fsync_is_ambiguous_because_its_step_fsyncs_it_too() -> None:
    """The step's probe fsyncs its output file once, and so does the engine before it
    links it: a 1st-fsync kill on that path would kill the probe first."""
    points = _points("reference-clean-run.txt", REF_STATE)
    ambiguous = [p for p in points if p.ambiguous]
    assert [p.index for p in ambiguous] == [29]
    assert "1 other process" in ambiguous[0].ambiguous
    with pytest.raises(TraceError, match="cannot strike the fsync of work/prepare.1.out"):
        inject_argv(["python3", "main.py"], ambiguous[0], REF_STATE)


def test_split_writes_writev_fdatasync_and_rename_are_points_and_the_child_is_not() -> None:
    points = _points("fork-split-writev-rename.txt", FORK_STATE)
    described = [(p.syscall, p.ordinal, p.description) for p in points]
    assert ("write", 2, "the write of the first part of STEP_STARTED a") in described
    assert ("write", 3, "the write of the rest of STEP_STARTED a") in described
    assert ("writev", 1, "the writev of STEP_SUCCEEDED a, WORKFLOW_SUCCEEDED") in described
    assert ("fdatasync", 1, "the fdatasync of events.jsonl after WORKFLOW_SUCCEEDED") \
        in described
    assert ("rename", 1, "the rename of outputs/a") in described
    assert "c.tmp" not in {p.path for p in points}  # the forked child's fsyncs
    assert not any(p.ambiguous for p in points)


def test_log_before_is_the_log_up_to_the_call_not_including_it() -> None:
    dcs = durability_calls(parse_trace((DATA / "fork-split-writev-rename.txt").read_text()),
                           FORK_STATE)
    points = {p.description: p for p in crash_points(dcs)}
    first = _event(1, "WORKFLOW_STARTED").replace(b" ", b"")
    assert log_before(dcs, points["the write of WORKFLOW_STARTED"]) == b""
    assert log_before(dcs, points["the fsync of events.jsonl after WORKFLOW_STARTED"]) == first
    rest = log_before(dcs, points["the write of the rest of STEP_STARTED a"])
    assert rest.startswith(first) and rest.endswith(b'"step":"a"}')  # torn: no newline yet


def test_ordinals_count_per_syscall_and_per_path() -> None:
    points = _hand([
        _call(7, "write", LOG, data=_event(1, "WORKFLOW_STARTED")),
        _call(7, "fsync", LOG), _call(7, "fsync", S),
        _call(7, "writev", LOG, data=_event(2, "STEP_STARTED", "a")),
        _call(7, "fsync", LOG),
        _call(7, "write", LOG, data=_event(3, "STEP_SUCCEEDED", "a")),
        _call(7, "link", f"{S}/work/a.out", f"{S}/outputs/a"),
        _call(7, "fsync", f"{S}/outputs"),
    ])
    assert [(p.syscall, p.path, p.ordinal) for p in points] == [
        ("write", "events.jsonl", 1), ("fsync", "events.jsonl", 1), ("fsync", ".", 1),
        ("writev", "events.jsonl", 1), ("fsync", "events.jsonl", 2),
        ("write", "events.jsonl", 2), ("link", "outputs/a", 1), ("fsync", "outputs", 1),
    ]


def test_the_main_process_is_the_log_writer_not_the_traced_root() -> None:
    """A wrapper (pid 1) that fsyncs STATE_DIR and forks the engine (pid 2): only the
    engine's calls are points, and a wrapper's fsync of the log makes the engine's
    1st fsync of it ambiguous but not its 2nd."""
    points = _hand([
        _call(1, "fsync", S),
        _call(2, "write", LOG, data=_event(1, "WORKFLOW_STARTED")),
        _call(2, "fsync", LOG),
        _call(1, "fsync", LOG),
        _call(2, "fsync", LOG),
    ])
    assert [(p.index, p.syscall, p.ordinal, bool(p.ambiguous)) for p in points] == [
        (1, "write", 1, False), (2, "fsync", 1, True), (4, "fsync", 2, False),
    ]


def test_a_trace_with_no_log_write_has_no_points() -> None:
    assert _hand([_call(1, "fsync", S), _call(1, "mkdir", f"{S}/outputs")]) == []


def _many(n: int) -> list[CrashPoint]:
    return [CrashPoint(i * 2, "write", "events.jsonl", i + 1, "engine", f"write {i}")
            for i in range(n)]


def test_choose_takes_all_points_when_they_are_few() -> None:
    points = _many(5)
    assert choose(list(reversed(points)), seed=3, limit=5) == CrashPlan(3, 5, 5, tuple(points))


def test_choose_is_seeded_keeps_the_ends_and_trace_order() -> None:
    points = _many(200)
    plan = choose(points, seed=11, limit=8)
    assert plan == choose(list(points), seed=11, limit=8)
    assert len(plan.points) == 8 and plan.total == 200
    assert plan.points[0] == points[0] and plan.points[-1] == points[-1]
    assert [p.index for p in plan.points] == sorted(p.index for p in plan.points)
    assert choose(points, seed=12, limit=8).points != plan.points


@given(st.integers(0, 60), st.integers(-(2**63), 2**63), st.integers(2, 20))
def test_choose_property(n: int, seed: int, limit: int) -> None:
    points = _many(n)
    plan = choose(points, seed, limit)
    assert plan == choose(points, seed, limit)
    assert len(plan.points) == min(n, limit)
    assert len(set(plan.points)) == len(plan.points) and set(plan.points) <= set(points)
    if n:
        assert plan.points[0] == points[0] and plan.points[-1] == points[-1]


@pytest.mark.parametrize("limit", [1, 0, -3, True, 2.5])
def test_choose_refuses_a_limit_that_cannot_hold_both_ends(limit: object) -> None:
    with pytest.raises(TraceError, match="limit"):
        choose(_many(5), seed=1, limit=limit)  # type: ignore[arg-type]


def test_a_plan_survives_json() -> None:
    plan = choose(_points("reference-clean-run.txt", REF_STATE), seed=5, limit=4)
    text = plan_json(plan)
    assert plan_from_json(text) == plan
    assert json.loads(text)["points"][0]["description"] == plan.points[0].description


@pytest.mark.parametrize("text", [
    "[", "{}", '{"version": 2, "seed": 1, "limit": 2, "total": 0, "points": []}',
    '{"version": 1, "seed": "1", "limit": 2, "total": 0, "points": []}',
    '{"version": 1, "seed": 1, "limit": 2, "total": 1, "points": [{"index": 1}]}',
])
def test_a_broken_plan_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(TraceError, match="not a crash plan"):
        plan_from_json(text)


def test_inject_argv_kills_at_the_ordinal_of_that_syscall_on_that_path() -> None:
    point = CrashPoint(9, "fsync", "events.jsonl", 3, "engine", "the fsync")
    assert inject_argv(["python3", "main.py", "run", "w.json", "/s"], point, "/s") == [
        "strace", "-f", "-qq", "-P", "/s/events.jsonl", "-e", "trace=fsync",
        "-e", "inject=fsync:signal=KILL:when=3", "--", "python3", "main.py", "run", "w.json",
        "/s"]
    root = CrashPoint(1, "fsync", ".", 1, "engine", "the fsync of STATE_DIR")
    argv = inject_argv(["e"], root, "/a/s/", trace_file="/t/trace.txt")
    assert argv[argv.index("-P") + 1] == "/a/s"
    assert argv[argv.index("-o") + 1] == "/t/trace.txt"


def test_inject_argv_refuses_a_relative_state_dir_and_an_empty_command() -> None:
    point = CrashPoint(9, "fsync", "events.jsonl", 3, "engine", "the fsync")
    with pytest.raises(TraceError, match="absolute"):
        inject_argv(["e"], point, "s")
    with pytest.raises(TraceError, match="empty"):
        inject_argv([], point, "/s")


def _engine_run(finish_order: tuple[str, str]) -> tuple[list[DurabilityCall], list[CrashPoint]]:
    """The calls of an engine that runs steps a and b together, publishing an output for
    a; the two finish in `finish_order`."""
    calls: list[Call] = []
    seq = 0

    def event(kind: str, step: str | None = None) -> None:
        nonlocal seq
        seq += 1
        doc: dict[str, object] = {"seq": seq, "type": kind}
        if step is not None:
            doc.update(step=step, attempt=1)
        line = json.dumps(doc).encode() + b"\n"
        calls.extend([_call(7, "write", LOG, data=line), _call(7, "fsync", LOG)])

    event("WORKFLOW_STARTED")
    event("STEP_STARTED", "a")
    event("STEP_STARTED", "b")
    for step in finish_order:
        event("STEP_SUCCEEDED", step)
        if step == "a":
            calls.extend([_call(7, "link", f"{S}/work/a.out", f"{S}/outputs/a"),
                          _call(7, "fsync", f"{S}/outputs")])
    event("WORKFLOW_SUCCEEDED")
    numbered = [Call(i + 1, c.pid, c.ts, c.syscall, c.paths, data=c.data, ret=c.ret)
                for i, c in enumerate(calls)]
    dcs = durability_calls(numbered, S)
    return dcs, crash_points(dcs)


def test_a_fresh_strike_is_the_seeds_whatever_order_concurrent_steps_finished_in() -> None:
    """The first kill of crash-loop: the same seed names the same call (syscall, path,
    ordinal) for recordings in which a and b finished in either order, and it lands where
    a step runs: after the first STEP_STARTED is whole, at the last success at the latest."""
    runs = [_engine_run(order) for order in (("a", "b"), ("b", "a"))]
    recs = [Recording(tuple(dcs), tuple(points)) for dcs, points in runs]
    struck = set()
    for seed in range(60):
        chosen = {(p.syscall, p.path, p.ordinal)
                  for p in (fresh_point(r, random.Random(seed)) for r in recs)}
        assert len(chosen) == 1, (seed, chosen)
        struck |= chosen
    # from the fsync after STEP_STARTED a (the 2nd fsync) to the write of the last success
    assert struck == {("fsync", "events.jsonl", 2), ("write", "events.jsonl", 3),
                      ("fsync", "events.jsonl", 3), ("write", "events.jsonl", 4),
                      ("fsync", "events.jsonl", 4), ("write", "events.jsonl", 5)}


def _chain_run() -> Recording:
    """The calls of an engine that runs a, then b (b depends on a), with group commit:
    between a's STEP_SUCCEEDED and b's STEP_STARTED the log shows nothing running."""
    calls: list[Call] = []
    for seq, (kind, step) in enumerate([("WORKFLOW_STARTED", None), ("STEP_STARTED", "a"),
                                        ("STEP_SUCCEEDED", "a"), ("STEP_STARTED", "b"),
                                        ("STEP_SUCCEEDED", "b"), ("WORKFLOW_SUCCEEDED", None)], 1):
        doc: dict[str, object] = {"seq": seq, "type": kind}
        if step is not None:
            doc.update(step=step, attempt=1)
        line = json.dumps(doc).encode() + b"\n"
        calls.extend([_call(7, "write", LOG, data=line), _call(7, "fsync", LOG)])
    numbered = [Call(i + 1, c.pid, c.ts, c.syscall, c.paths, data=c.data, ret=c.ret)
                for i, c in enumerate(calls)]
    dcs = durability_calls(numbered, S)
    return Recording(tuple(dcs), tuple(crash_points(dcs)))


def test_a_fresh_strike_never_lands_where_the_log_shows_nothing_running() -> None:
    """Drawn by place, a kill at the fsync of a's success, or at the write of b's start,
    would find no attempt running: it moves to the next call at which one runs (the fsync
    of b's start), so crash-loop's first kill always leaves a lost attempt to record."""
    from harness.eventlog import running_attempts

    rec = _chain_run()
    struck = {fresh_point(rec, random.Random(seed)) for seed in range(80)}
    assert all(running_attempts(log_before(rec.calls, p)) for p in struck)
    assert {(p.syscall, p.ordinal) for p in struck} == {
        ("fsync", 2), ("write", 3), ("fsync", 4), ("write", 5)}
