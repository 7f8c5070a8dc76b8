"""harness.trace on canned strace output recorded on this machine (strace 6.1).

tests/data/strace/ holds the traces, verbatim:

- fork-split-writev-rename.txt: a small program under `strace_argv`'s options that
  creates st/ and st/outputs/, opens st/events.jsonl O_APPEND, fsyncs st/, writes
  event 1 whole, event 2 in two writes (line, then newline), events 3 and 4 in one
  writev of three buffers cut mid-line, fdatasyncs, while a forked child writes and
  fsyncs st/c.tmp three times (the -f interleaving, with <unfinished ...> and
  <... resumed>, an exit line and a SIGCHLD line); then pwrites st/a.tmp, renames it to
  st/outputs/a, fsyncs st/outputs, unlinks st/c.tmp and truncates the log up to 1 MB.
- reference-clean-run.txt: two excerpts of the reference engine's clean-run under the
  same options plus close, dup2 and fcntl (a failed openat, a failed mkdir, the log's
  directory fsync, three events, a hard link into outputs/).
- killed-by-inject.txt: `-e inject=write,fsync,rename:signal=KILL:when=4` on two
  processes, without timestamps: calls that never returned (= ?) and kill lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.trace import Kind, TraceError, durability_calls, log_events, parse_trace, strace_argv
from harness.trace.strace import O_APPEND, O_CREAT, TRACED

DATA = Path(__file__).resolve().parent.parent / "data" / "strace"
FORK_STATE = "/tmp/tr/s/st"
REF_STATE = "/tmp/tr/st"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_strace_argv_records_every_listed_call_with_exact_data() -> None:
    argv = strace_argv(["python3", "main.py", "run", "w.json", "/s"], "/t/trace.txt")
    assert argv[0] == "strace" and argv[-5:] == ["python3", "main.py", "run", "w.json", "/s"]
    assert {"-f", "-y", "-xx", "-v"} <= set(argv)
    assert argv[argv.index("-o") + 1] == "/t/trace.txt"
    assert int(argv[argv.index("-s") + 1]) > 8 << 20  # a whole 8 MiB file's data
    traced = set(argv[argv.index("-e") + 1].removeprefix("trace=").split(","))
    for name in ("openat", "write", "pwrite64", "writev", "fsync", "fdatasync",
                 "sync_file_range", "rename", "renameat", "renameat2", "link", "linkat",
                 "truncate", "ftruncate", "unlink", "unlinkat", "mkdir", "mkdirat"):
        assert name in traced
    assert traced == set(TRACED)


def test_strace_argv_refuses_an_empty_command() -> None:
    with pytest.raises(TraceError, match="empty"):
        strace_argv([], "/t/trace.txt")


def test_resumed_calls_join_their_start_and_keep_their_pid() -> None:
    calls = parse_trace(_read("fork-split-writev-rename.txt"))
    writev = next(c for c in calls if c.syscall == "writev")
    assert writev.pid == 19723 and writev.line == 15  # completed at '<... writev resumed>'
    assert writev.ts == pytest.approx(1796050237.436995)  # when it started
    assert writev.ret == 83 and writev.data is not None and len(writev.data) == 83
    child = [c for c in calls if c.pid == 19725]
    assert [c.syscall for c in child] == ["openat", "write", "fsync"] * 3
    assert all(c.paths == (f"{FORK_STATE}/c.tmp",) for c in child)
    assert child[0].flags is not None and child[0].flags & O_CREAT
    assert [c.line for c in calls] == sorted(c.line for c in calls)


def test_paths_flags_offsets_and_bytes_are_exact() -> None:
    calls = parse_trace(_read("fork-split-writev-rename.txt"))
    by_name = {c.syscall: c for c in calls}
    log_open = calls[2]
    assert log_open.syscall == "openat" and log_open.paths == (f"{FORK_STATE}/events.jsonl",)
    assert log_open.flags is not None and log_open.flags & O_APPEND and log_open.ret == 3
    pwrite = by_name["pwrite64"]
    assert pwrite.data == b"out\x00\xff" and pwrite.offset == 0 and pwrite.fd == 4
    assert by_name["rename"].paths == (f"{FORK_STATE}/a.tmp", f"{FORK_STATE}/outputs/a")
    assert by_name["truncate"].length == 10**6
    assert by_name["unlink"].paths == (f"{FORK_STATE}/c.tmp",) and not by_name["unlink"].failed


def test_failed_calls_carry_their_errno() -> None:
    calls = parse_trace(_read("reference-clean-run.txt"))
    enoent = [c for c in calls if c.errno == "ENOENT"]
    assert enoent and all(c.failed and c.ret == -1 for c in enoent)
    assert enoent[0].paths == (f"{REF_STATE}/events.jsonl",)
    eexist = next(c for c in calls if c.errno == "EEXIST")
    assert eexist.syscall == "mkdir" and eexist.paths == (f"{REF_STATE}/outputs",)


def test_calls_cut_by_a_kill_have_no_return_and_keep_their_data() -> None:
    calls = parse_trace(_read("killed-by-inject.txt"))
    cut = [c for c in calls if c.ret is None]
    assert [(c.pid, c.data) for c in cut] == [(22720, b"b2\n"), (22721, b"b2\n")]
    assert not any(c.failed for c in cut) and all(c.ts is None for c in calls)


def test_a_trace_that_ends_inside_a_call_keeps_the_call() -> None:
    text = '7 write(3</s/events.jsonl>, "ab", 2 <unfinished ...>\n'
    [call] = parse_trace(text)
    assert call.ret is None and call.data == b"ab" and call.paths == ("/s/events.jsonl",)


def test_plain_escapes_decode_without_xx() -> None:
    [call] = parse_trace('7 write(1</dev/pts/0>, "a\\n\\t\\"\\\\\\0", 6) = 6\n')
    assert call.data == b'a\n\t"\\\x00'


@pytest.mark.parametrize("line", [
    "strace: Process 12 attached",
    "12 write(3, \"ab\", 2",
    "12 <... write resumed>) = 2",
    "12 write(3, \"ab\", 2) = what",
])
def test_unreadable_lines_raise_a_trace_error_that_names_the_line(line: str) -> None:
    with pytest.raises(TraceError, match=r"line 2: cannot read") as info:
        parse_trace("12 fsync(3) = 0\n" + line + "\n")
    assert line in str(info.value)


def test_durability_calls_keep_only_state_dir_and_map_split_writes_to_one_event() -> None:
    calls = durability_calls(parse_trace(_read("fork-split-writev-rename.txt")), FORK_STATE)
    writes = [(d.events, d.partial) for d in calls if d.kind is Kind.LOG_WRITE]
    assert writes == [((0,), False), ((1,), True), ((1,), False), ((2, 3), False)]
    syncs = [d.file for d in calls if d.kind is Kind.SYNC]
    assert syncs == [".", "events.jsonl", "events.jsonl", "events.jsonl", "c.tmp", "c.tmp",
                     "c.tmp", "a.tmp", "outputs"]
    [publish] = [d for d in calls if d.kind is Kind.PUBLISH]
    assert publish.step == "a" and publish.rel == ("a.tmp", "outputs/a")
    assert [d.kind for d in calls[:2]] == [Kind.MKDIR, Kind.MKDIR]
    assert calls[-2].kind is Kind.UNLINK and calls[-1].kind is Kind.TRUNCATE


def test_log_events_assemble_the_log_as_the_calls_leave_it() -> None:
    calls = durability_calls(parse_trace(_read("fork-split-writev-rename.txt")), FORK_STATE)
    events = log_events(calls)
    assert [e.seq for e in events[:4]] == [1, 2, 3, 4]
    assert events[1].raw == b'{"seq":2,"type":"STEP_STARTED","step":"a"}\n'
    tail = events[-1]  # truncate() past the end zero-fills: a line that is no event
    assert tail.event is None and set(tail.raw) == {0} and tail.start + len(tail.raw) == 10**6


def test_reference_excerpt_links_into_outputs_after_its_event_is_durable() -> None:
    calls = durability_calls(parse_trace(_read("reference-clean-run.txt")), REF_STATE)
    events = log_events(calls)
    assert [e.event and e.event["type"] for e in events] == [
        "WORKFLOW_STARTED", "STEP_STARTED", "STEP_SUCCEEDED"]
    order = [(d.kind, d.file) for d in calls if not d.call.failed
             and d.kind in (Kind.LOG_WRITE, Kind.SYNC, Kind.PUBLISH)]
    assert order[:3] == [(Kind.SYNC, "."), (Kind.SYNC, "."), (Kind.LOG_WRITE, "events.jsonl")]
    link = next(i for i, (k, _) in enumerate(order) if k is Kind.PUBLISH)
    assert order[link - 3:link + 2] == [
        (Kind.LOG_WRITE, "events.jsonl"), (Kind.SYNC, "events.jsonl"),
        (Kind.SYNC, "work/prepare.1.out"), (Kind.PUBLISH, "outputs/prepare"),
        (Kind.SYNC, "outputs")]
    dup = next(d for d in calls if d.call.syscall == "dup2")  # other calls: their fds' files
    assert dup.kind is Kind.OTHER and dup.rel[0] == "logs/prepare.1.log"


def _write_line(data: bytes) -> str:
    hexed = "".join(f"\\x{b:02x}" for b in data)
    return f'5 write(3</s/events.jsonl>, "{hexed}", {len(data)}) = {len(data)}'


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=6), st.data())
def test_any_split_of_the_log_maps_each_write_to_the_events_it_carries(
        seqs: list[int], data: st.DataObject) -> None:
    log = b"".join(json.dumps({"seq": s}).encode() + b"\n" for s in seqs)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(log) - 1), max_size=8))))
    bounds = [0, *cuts, len(log)]
    pieces = [log[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    calls = durability_calls(parse_trace("\n".join(map(_write_line, pieces))), "/s")
    events = log_events(calls)
    assert [e.seq for e in events] == seqs
    for (a, b), d in zip(zip(bounds, bounds[1:], strict=False), calls, strict=True):
        spans = [(e.start, e.start + len(e.raw)) for e in events]
        assert d.events == tuple(i for i, (s, e) in enumerate(spans) if s < b and e > a)
        assert d.partial == (spans[d.events[-1]][1] > b)
