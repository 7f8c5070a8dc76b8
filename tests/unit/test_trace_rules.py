"""harness.trace.rules on small hand-made traces: each rule passes the reference's order
of calls and fails the one defect it is aimed at, naming the call and the event or output.

The traces are `Call` lists run through `durability_calls`, so the log writes carry the
events their bytes hold, as in a recorded trace.
"""

from __future__ import annotations

import json
from dataclasses import replace

from harness.trace import Call, DurabilityCall, durability_calls
from harness.trace.rules import (
    NOT_DEMANDED,
    RULES,
    judge,
    published_before_synced,
    split_events,
    unsynced_directories,
    unsynced_events,
    unsynced_output_directories,
)
from harness.trace.strace import O_APPEND, O_CREAT, O_WRONLY

S = "/st"
LOG = f"{S}/events.jsonl"
OUT = f"{S}/work/b.1.out"
STARTED = json.dumps({"seq": 1, "type": "WORKFLOW_STARTED", "ts": 1, "workflow": "w",
                      "digest": "d"}).encode() + b"\n"
SUCCEEDED = json.dumps({"seq": 2, "type": "STEP_SUCCEEDED", "ts": 2, "step": "b",
                        "attempt": 1}).encode() + b"\n"


def c(syscall: str, *paths: str, pid: int = 1, data: bytes | None = None, flags: int | None = None,
      ret: int | None = 0, errno: str | None = None) -> Call:
    return Call(0, pid, None, syscall, paths, flags=flags, data=data,
                ret=len(data) if data is not None and ret == 0 else ret, errno=errno)


def create_log() -> Call:
    return c("openat", LOG, flags=O_WRONLY | O_APPEND | O_CREAT, ret=3)


def fsync(path: str, pid: int = 1, name: str = "fsync") -> Call:
    return c(name, path, pid=pid)


def trace(*calls: Call) -> list[DurabilityCall]:
    """The calls, numbered as trace lines 1, 2, 3 ..., mapped under S."""
    return durability_calls([replace(x, line=i) for i, x in enumerate(calls, start=1)], S)


def reference_order(**swap: Call | None) -> list[Call]:
    """The reference's calls for one success and its output; `swap` replaces or drops one."""
    steps: dict[str, Call | None] = {
        "read": c("openat", LOG, ret=-1, errno="ENOENT"),
        "create": create_log(),
        "dir": fsync(S),
        "w1": c("write", LOG, data=STARTED),
        "s1": fsync(LOG),
        "out": c("write", OUT, pid=2, data=b"x" * 10),
        "w2": c("write", LOG, data=SUCCEEDED),
        "s2": fsync(LOG),
        "sync_out": fsync(OUT),
        "link": c("link", OUT, f"{S}/outputs/b"),
        "outdir": fsync(f"{S}/outputs"),
    }
    for key, call in swap.items():
        steps[key] = call
    return [x for x in steps.values() if x is not None]


def test_the_reference_order_breaks_no_rule_and_earns_no_note() -> None:
    calls = trace(*reference_order())
    assert judge(calls) == {name: [] for name in RULES}
    assert unsynced_output_directories(calls) == []


def test_an_event_not_fsynced_before_a_publish_is_named_with_the_act() -> None:
    [finding] = unsynced_events(trace(*reference_order(s2=None)))
    assert "the STEP_SUCCEEDED of step b (seq 2)" in finding
    assert "write at trace line 7" in finding and "outputs/b was published (link" in finding


STEP_STARTED = json.dumps({"seq": 2, "type": "STEP_STARTED", "ts": 2, "step": "c", "attempt": 1,
                           "pid": 7, "pgid": 7}).encode() + b"\n"


def test_events_that_share_one_fsync_are_group_commit_not_a_defect() -> None:
    # WORKFLOW_STARTED and STEP_SUCCEEDED b written, then one fsync before the publish.
    assert unsynced_events(trace(*reference_order(s1=None))) == []


def test_an_event_not_fsynced_before_an_act_on_it_or_at_all_is_found() -> None:
    # A step's start acts on WORKFLOW_STARTED: it must be durable before it.
    started = [create_log(), fsync(S), c("write", LOG, data=STARTED),
               c("write", LOG, data=STEP_STARTED), fsync(LOG)]
    [before_start] = unsynced_events(trace(*started))
    assert "WORKFLOW_STARTED (seq 1)" in before_start
    assert "before the STEP_STARTED of step c (seq 2) was written" in before_start
    [at_end] = unsynced_events(trace(create_log(), fsync(S), c("write", LOG, data=STARTED)))
    assert "the end of the trace" in at_end


def test_a_success_is_acted_on_only_by_its_dependents_when_deps_are_known() -> None:
    success = [create_log(), fsync(S), c("write", LOG, data=STARTED), fsync(LOG),
               c("write", LOG, data=SUCCEEDED), c("write", LOG, data=STEP_STARTED.replace(
                   b'"seq": 2', b'"seq": 3')), fsync(LOG)]
    assert unsynced_events(trace(*success), {"b": [], "c": []}) == []
    [finding] = unsynced_events(trace(*success), {"b": [], "c": ["b"]})
    assert "STEP_SUCCEEDED of step b" in finding and "STEP_STARTED of step c" in finding
    assert len(unsynced_events(trace(*success))) == 1  # unknown deps: any start acts


def test_only_a_successful_fsync_or_fdatasync_by_the_writer_counts() -> None:
    assert unsynced_events(trace(*reference_order(s2=fsync(LOG, name="fdatasync")))) == []
    for wrong in (fsync(LOG, pid=9), fsync(LOG, name="sync_file_range"),
                  c("fsync", LOG, ret=-1, errno="EIO")):
        [finding] = unsynced_events(trace(*reference_order(s2=wrong)))
        assert "STEP_SUCCEEDED of step b" in finding


def test_an_event_in_two_writes_is_split_and_still_synced() -> None:
    calls = trace(*reference_order()[:6], c("write", LOG, data=SUCCEEDED[:-1]),
                  c("write", LOG, data=b"\n"), fsync(LOG), *reference_order()[8:])
    [finding] = split_events(calls)
    assert "the STEP_SUCCEEDED of step b (seq 2) was written in 2 writes" in finding
    assert "write at trace line 7 (pid 1), then write at trace line 8 (pid 1)" in finding
    assert unsynced_events(calls) == [] and published_before_synced(calls) == []


def test_a_link_before_the_data_fsync_is_found_and_the_late_fsync_named() -> None:
    calls = reference_order(sync_out=None)
    [finding] = published_before_synced(trace(*calls[:-1], fsync(OUT), calls[-1]))
    assert "link at trace line 9 (pid 1) published outputs/b from work/b.1.out" in finding
    assert "it fsynced it only after, fsync at trace line 10" in finding


def test_only_the_publisher_fsyncing_after_the_last_write_counts() -> None:
    by_command = reference_order(sync_out=None, out=None)
    by_command[4:4] = [c("write", OUT, pid=2, data=b"x"), fsync(OUT, pid=2)]
    assert len(published_before_synced(trace(*by_command))) == 1
    rewritten = reference_order()
    rewritten.insert(9, c("write", OUT, pid=2, data=b"y"))  # after the fsync, before the link
    assert len(published_before_synced(trace(*rewritten))) == 1
    renamed = reference_order(link=c("rename", OUT, f"{S}/outputs/b"))
    assert published_before_synced(trace(*renamed)) == []


def test_a_log_created_without_a_directory_fsync_before_the_second_event_is_found() -> None:
    [finding] = unsynced_directories(trace(*reference_order(dir=None)))
    assert "openat at trace line 2 (pid 1) created events.jsonl" in finding
    assert "before the STEP_SUCCEEDED of step b (seq 2) was written (write at trace line 6" in finding
    late = reference_order(dir=None)
    late.append(fsync(S))  # at the end: after the log was acted on
    assert len(unsynced_directories(trace(*late))) == 1
    early = reference_order(dir=None)
    early.insert(4, fsync(S))  # after the first event, before the second: in time
    assert unsynced_directories(trace(*early)) == []


def test_a_log_that_was_there_before_the_trace_is_not_judged() -> None:
    reopened = reference_order(read=c("openat", LOG, ret=3), dir=None)
    assert unsynced_directories(trace(*reopened)) == []


def test_an_unsynced_outputs_directory_is_a_note_never_a_finding() -> None:
    calls = trace(*reference_order(outdir=None))
    [note] = unsynced_output_directories(calls)
    assert note.startswith(NOT_DEMANDED) and "outputs/b" in note
    assert judge(calls) == {name: [] for name in RULES}
