"""Threads in a trace: strace -f names each line by its thread, and the contract's
"process" is the thread group. On canned strace output recorded on this machine
(strace 6.1, `strace_prefix`'s options), verbatim, in tests/data/strace/:

- threads-fork.txt: threads-fork.c (beside it), built with cc -pthread, in /tmp/tr/t:
  the main thread makes st/ and st/outputs/, creates the log, fsyncs st/, and writes
  three events; worker threads (clone3 with CLONE_THREAD) fsync the log after the first
  two; the main thread writes and fsyncs st/a.tmp; a thread renames it to
  st/outputs/a with relative paths, never having named the cwd, and a thread it made
  fsyncs st/outputs; a forked child (clone without CLONE_THREAD) fsyncs the log after
  the third event; /bin/true is started by vfork, whose child's calls come before the
  parent's ``<... vfork resumed>``.
- threads-racing.txt: an excerpt of a Python program (8 threads that each write an
  event and fsync the log, then a subprocess), with clone3 calls split by other
  threads' lines (``<unfinished ...>`` and ``<... clone3 resumed>``).
- thread-before-its-maker.txt: an excerpt of a C program that makes 40 threads back to
  back, each writing at once: a thread's first call completes before its maker's
  ``<... clone3 resumed>`` line.
- clone-thread.txt: clone-thread.c (beside it), in /tmp/tr/r: a thread made by clone(2)
  itself with the flags Go's runtime passes (``flags=0x50f00``), fsyncing the file its
  maker wrote.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from harness.faults.exact import traced_alone
from harness.trace import Call, DurabilityCall, durability_calls, parse_trace
from harness.trace.fsmodel import replay
from harness.trace.plan import crash_points
from harness.trace.rules import judge, published_before_synced, unsynced_events
from harness.trace.strace import O_APPEND, O_CREAT, O_WRONLY

DATA = Path(__file__).resolve().parent.parent / "data" / "strace"
STATE = "/tmp/tr/t/st"
MAIN, SYNC_1, SYNC_2, PUBLISHER, NESTED, CHILD, VFORKED = range(18070, 18077)


def _calls(name: str) -> list[Call]:
    return parse_trace((DATA / name).read_text())


def _mapped() -> list[DurabilityCall]:
    return durability_calls(_calls("threads-fork.txt"), STATE)


def test_threads_belong_to_the_process_that_made_them_and_keep_their_own_pid() -> None:
    calls = _calls("threads-fork.txt")
    procs = {c.pid: c.proc for c in calls}
    assert {t: procs[t] for t in (SYNC_1, SYNC_2, PUBLISHER, NESTED)} == dict.fromkeys(
        (SYNC_1, SYNC_2, PUBLISHER, NESTED), MAIN)  # NESTED was made by a thread
    assert procs[MAIN] == MAIN
    fsyncs = [(c.pid, c.proc) for c in calls if c.syscall == "fsync"
              and c.paths == (f"{STATE}/events.jsonl",)]
    assert fsyncs == [(SYNC_1, MAIN), (SYNC_2, MAIN), (CHILD, CHILD)]


def test_a_fork_and_a_vfork_make_processes_of_their_own() -> None:
    calls = _calls("threads-fork.txt")
    fork = next(c for c in calls if c.syscall == "clone")
    assert fork.ret == CHILD and fork.proc == MAIN
    assert {c.proc for c in calls if c.pid == CHILD} == {CHILD}
    vfork = next(c for c in calls if c.syscall == "vfork")
    child_lines = [c.line for c in calls if c.pid == VFORKED]
    assert child_lines and max(child_lines) < vfork.line  # its calls came first
    assert {c.proc for c in calls if c.pid == VFORKED} == {VFORKED}


def test_a_threads_relative_path_resolves_against_its_process_cwd() -> None:
    """The publishing thread named no cwd itself (no AT_FDCWD call): its process did."""
    rename = next(c for c in _calls("threads-fork.txt") if c.syscall == "rename")
    assert rename.pid == PUBLISHER
    assert rename.paths == (f"{STATE}/a.tmp", f"{STATE}/outputs/a")


def test_split_clone3_calls_give_each_thread_its_process() -> None:
    calls = _calls("threads-racing.txt")
    made = [c.ret for c in calls if c.syscall == "clone3"]
    assert len(made) == 8 and all(c.proc == 376 for c in calls if c.syscall == "clone3")
    writers = {c.pid: c.proc for c in calls if c.syscall in ("write", "fsync")}
    assert set(writers) == set(made) and set(writers.values()) == {376}
    vfork = next(c for c in calls if c.syscall == "vfork")
    assert vfork.ret == 400 and vfork.proc == 376


def test_a_thread_seen_before_its_makers_clone3_returns_is_still_its_thread() -> None:
    calls = _calls("thread-before-its-maker.txt")
    write = next(c for c in calls if c.pid == 18582)
    made = next(c for c in calls if c.syscall == "clone3" and c.ret == 18582)
    assert write.line < made.line and write.proc == 18543


def test_a_clone_with_clone_thread_makes_a_thread_as_clone3_does() -> None:
    calls = _calls("clone-thread.txt")
    clone = next(c for c in calls if c.syscall == "clone")
    fsync = next(c for c in calls if c.syscall == "fsync")
    assert fsync.pid == clone.ret == 27579 and fsync.proc == clone.pid == 27578
    assert fsync.paths == ("/tmp/tr/r/x.log",)


def test_a_call_made_by_hand_is_its_own_process() -> None:
    call = Call(line=1, pid=7, ts=None, syscall="fsync", paths=("/s/x",))
    assert call.proc == 7 and replace(call, proc=3).proc == 3


def test_the_recorded_threaded_run_breaks_only_the_forked_childs_fsync() -> None:
    """Events 1 and 2 are written on the main thread and fsynced on worker threads of
    the same process: durable. outputs/a is linked by a thread after the main thread
    fsynced its data: durable. Event 3 is fsynced only by a forked child, another
    process: that does not count."""
    found = judge(_mapped())
    assert {name: len(lines) for name, lines in found.items() if lines} == {"unsynced_events": 1}
    [line] = found["unsynced_events"]
    assert "WORKFLOW_SUCCEEDED" in line and f"(pid {MAIN})" in line


def test_crash_points_include_every_thread_of_the_engine_and_no_other_process() -> None:
    mapped = _mapped()
    points = crash_points(mapped)
    by = {(mapped[p.index].call.pid, p.syscall, p.path): p for p in points}
    assert (PUBLISHER, "rename", "outputs/a") in by
    assert (NESTED, "fsync", "outputs") in by
    assert {mapped[p.index].call.proc for p in points} == {MAIN}
    assert [p.ordinal for p in points if p.syscall == "write"] == [1, 2, 3]  # one thread
    log_syncs = [p for p in points if p.syscall == "fsync" and p.path == "events.jsonl"]
    assert [mapped[p.index].call.pid for p in log_syncs] == [SYNC_1, SYNC_2]
    assert all("on 2 threads" in p.ambiguous for p in log_syncs)  # which makes which: chance
    assert not by[(PUBLISHER, "rename", "outputs/a")].ambiguous
    assert not traced_alone(_calls("threads-fork.txt"), mapped, points)  # -f: threads


def test_a_single_threaded_writer_is_traced_alone() -> None:
    calls = _calls("fork-split-writev-rename.txt")
    mapped = durability_calls(calls, "/tmp/tr/s/st")
    assert traced_alone(calls, mapped, crash_points(mapped))


# Hand-made calls: one process (1) with threads 1, 2 and 3; another process (9).
S = "/st"
LOG, OUT = f"{S}/events.jsonl", f"{S}/work/b.1.out"
SUCCEEDED = json.dumps({"seq": 1, "type": "STEP_SUCCEEDED", "step": "b"}).encode() + b"\n"


def _c(syscall: str, *paths: str, tid: int, proc: int = 1, data: bytes | None = None,
       flags: int | None = None, ret: int = 0) -> Call:
    return Call(0, tid, None, syscall, paths, flags=flags, data=data,
                ret=len(data) if data is not None else ret, proc=proc)


def _trace(*calls: Call) -> list[DurabilityCall]:
    return durability_calls([replace(x, line=i) for i, x in enumerate(calls, start=1)], S)


def _publish(sync: Call) -> list[DurabilityCall]:
    """Open the log, write a success, fsync it (thread 2), write the output (thread 1),
    `sync` its data, link it into outputs/ (thread 3)."""
    return _trace(_c("openat", LOG, tid=1, flags=O_WRONLY | O_APPEND | O_CREAT, ret=3),
                  _c("fsync", S, tid=1), _c("write", LOG, tid=1, data=SUCCEEDED),
                  _c("fsync", LOG, tid=2), _c("write", OUT, tid=1, data=b"out"), sync,
                  _c("link", OUT, f"{S}/outputs/b", tid=3))


def test_an_fsync_on_another_thread_of_the_writer_counts() -> None:
    calls = _publish(_c("fsync", OUT, tid=2))
    assert unsynced_events(calls) == [] and published_before_synced(calls) == []


def test_an_fsync_by_another_process_does_not_count() -> None:
    """A forked child, or a step's command, is another process: its fsync is not the
    engine's, even of the same file."""
    calls = _publish(_c("fsync", OUT, tid=9, proc=9))
    [finding] = published_before_synced(calls)
    assert "(pid 3 of process 1) published outputs/b" in finding
    log_by_other = _trace(_c("write", LOG, tid=2, data=SUCCEEDED), _c("fsync", LOG, tid=9, proc=9))
    [finding] = unsynced_events(log_by_other)
    assert "written by write at trace line 1 (pid 2 of process 1)" in finding


def test_an_fd_opened_on_one_thread_is_written_through_on_another() -> None:
    """fds are the process's: a write on thread 2 through the fd thread 1 opened lands at
    that fd's position (0 here), not at the end as through an fd never seen opened."""
    calls = _trace(_c("openat", f"{S}/f", tid=1, flags=O_WRONLY | O_CREAT, ret=3),
                   _c("openat", f"{S}/f", tid=1, flags=O_WRONLY | O_APPEND, ret=4),
                   replace(_c("write", f"{S}/f", tid=1, data=b"xyz"), fd=4),
                   replace(_c("write", f"{S}/f", tid=2, data=b"ab"), fd=3))
    files, _ = replay(calls).live()
    assert files == {"f": b"abz"}
