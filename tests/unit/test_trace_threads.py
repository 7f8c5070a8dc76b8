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
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.trace import Call, parse_trace

DATA = Path(__file__).resolve().parent.parent / "data" / "strace"
STATE = "/tmp/tr/t/st"
MAIN, SYNC_1, SYNC_2, PUBLISHER, NESTED, CHILD, VFORKED = range(18070, 18077)


def _calls(name: str) -> list[Call]:
    return parse_trace((DATA / name).read_text())


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


def test_a_call_made_by_hand_is_its_own_process() -> None:
    call = Call(line=1, pid=7, ts=None, syscall="fsync", paths=("/s/x",))
    assert call.proc == 7 and replace(call, proc=3).proc == 3
