"""harness.trace.states on hand-made call sequences and on the canned traces of
tests/data/strace/: each model's states hold exactly the bytes it promises, and each
explanation names the call and the event or output it carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.trace import Call, durability_calls, parse_trace
from harness.trace.durability import DurabilityCall
from harness.trace.fsmodel import replay
from harness.trace.states import (
    CrashState,
    Model,
    StateError,
    materialise,
    power_loss_states,
    prefix_states,
    torn_states,
)
from harness.trace.strace import O_APPEND, O_CREAT, O_TRUNC, O_WRONLY

DATA = Path(__file__).resolve().parent.parent / "data" / "strace"
S = "/st"
CANNED = [("reference-clean-run.txt", "/tmp/tr/st"), ("fork-split-writev-rename.txt", "/tmp/tr/s/st")]


class _Calls:
    """Builds a trace of one process by hand, each call numbered as a trace line."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.next_fd = 3

    def _add(self, syscall: str, *paths: str, **kw: object) -> None:
        self.calls.append(Call(line=len(self.calls) + 1, pid=1, ts=None, syscall=syscall,
                               paths=tuple(f"{S}/{p}" if p != "." else S for p in paths),
                               **kw))  # type: ignore[arg-type]

    def open(self, path: str, flags: int) -> int:
        fd, self.next_fd = self.next_fd, self.next_fd + 1
        self._add("openat", path, flags=flags, ret=fd)
        return fd

    def write(self, path: str, fd: int, data: bytes, syscall: str = "write",
              offset: int | None = None) -> None:
        self._add(syscall, path, fd=fd, data=data, offset=offset, ret=len(data))

    def fsync(self, path: str, fd: int = 99) -> None:
        self._add("fsync", path, fd=fd, ret=0)

    def mkdir(self, path: str) -> None:
        self._add("mkdir", path, ret=0)

    def rename(self, old: str, new: str, syscall: str = "rename") -> None:
        self._add(syscall, old, new, ret=0)

    def done(self) -> list[DurabilityCall]:
        return durability_calls(self.calls, S)


def _event(seq: int, kind: str, step: str | None = None) -> bytes:
    doc: dict[str, object] = {"seq": seq, "type": kind}
    if step:
        doc["step"] = step
    return json.dumps(doc).encode() + b"\n"


E1, E2, E3 = _event(1, "WORKFLOW_STARTED"), _event(2, "STEP_STARTED", "a"), \
    _event(3, "STEP_SUCCEEDED", "b")
LOG_FLAGS = O_WRONLY | O_CREAT | O_APPEND


def _run(sync_log: bool = True, sync_outputs: bool = True) -> list[DurabilityCall]:
    """A small engine: log created and its directory fsynced, three events (the third
    never fsynced when sync_log is False), output b written, fsynced, renamed into
    outputs/ (whose fsync is left out when sync_outputs is False)."""
    t = _Calls()
    t.mkdir("outputs")
    log = t.open("events.jsonl", LOG_FLAGS)
    t.fsync(".")
    for event in (E1, E2):
        t.write("events.jsonl", log, event)
        t.fsync("events.jsonl", log)
    t.write("events.jsonl", log, E3)
    if sync_log:
        t.fsync("events.jsonl", log)
    tmp = t.open("b.tmp", O_WRONLY | O_CREAT | O_TRUNC)
    t.write("b.tmp", tmp, b"output of b\n")
    t.fsync("b.tmp", tmp)
    t.rename("b.tmp", "outputs/b")
    if sync_outputs:
        t.fsync("outputs")
    return t.done()


def _canned(name: str, state_dir: str) -> list[DurabilityCall]:
    return durability_calls(parse_trace((DATA / name).read_text()), state_dir)


@pytest.mark.parametrize("calls", [_run(), _run(False, False), *(_canned(*c) for c in CANNED)])
def test_prefix_k_is_the_first_k_calls_replayed(calls: list[DurabilityCall]) -> None:
    states = prefix_states(calls)
    assert states[0].k == 0 and states[0].files == ()
    assert states[-1].k == len(calls) or states[-1].k == max(s.k for s in states)
    for state in states:
        files, dirs = replay(calls[:state.k]).live()
        assert state.contents == files and state.dirs == dirs
        assert state.model is Model.PREFIX and state.name == f"prefix {state.k}"


def test_the_final_prefix_is_the_run_s_final_files() -> None:
    final = prefix_states(_run())[-1]
    assert final.contents == {"events.jsonl": E1 + E2 + E3, "outputs/b": b"output of b\n"}
    assert final.dirs == ("outputs",)


def test_writes_land_at_the_fd_position_or_the_offset() -> None:
    """The canned child opens c.tmp three times without O_TRUNC and writes 10 bytes at
    position 0 each time; a.tmp gets a pwrite at offset 0 and is renamed to outputs/a."""
    final = prefix_states(_canned(*CANNED[1]))[-1].contents
    assert "c.tmp" not in final and final["outputs/a"] == b"out\x00\xff"
    before_unlink = replay(_canned(*CANNED[1])[:27]).live()[0]
    assert before_unlink["c.tmp"] == b"x" * 10
    t = _Calls()
    fd = t.open("f", O_WRONLY | O_CREAT)
    t.write("f", fd, b"abcdef")
    t.write("f", fd, b"XY", "pwrite64", offset=1)
    t.write("f", fd, b"gh")
    t.write("f", fd, b"Z", "pwrite64", offset=10)
    assert prefix_states(t.done())[-1].contents == {"f": b"aXYdefgh\x00\x00Z"}


def test_a_prefix_state_names_the_event_its_last_call_wrote() -> None:
    calls = _run()
    third = next(s for s in prefix_states(calls) if s.contents.get("events.jsonl", b"").endswith(E3))
    assert "the STEP_SUCCEEDED of step b (seq 3)" in third.explanation
    assert "write events.jsonl" in third.explanation


def test_a_sample_of_states_keeps_the_first_and_the_last_and_follows_the_seed() -> None:
    calls = _canned(*CANNED[1])
    every = [s.k for s in prefix_states(calls)]
    some = [s.k for s in prefix_states(calls, limit=5, seed=3)]
    assert len(some) == 5 and some[0] == every[0] and some[-1] == every[-1]
    assert some == [s.k for s in prefix_states(calls, limit=5, seed=3)]
    assert set(some) <= set(every)
    assert len(power_loss_states(calls, limit=4, seed=1)) == 4


def _torn(states: list[CrashState], name: str) -> CrashState:
    return next(s for s in states if s.name == name)


def test_a_torn_write_holds_exactly_the_bytes_promised() -> None:
    calls = _run()
    k = next(i for i, dc in enumerate(calls) if dc.call.data == E2)
    states = torn_states(calls, seed=0)
    one = _torn(states, f"torn {k} at 1 byte")
    assert one.contents["events.jsonl"] == E1 + E2[:1] and one.k == one.call == k
    zeros = _torn(states, f"torn {k} at 1 byte, zero-filled")
    assert zeros.contents["events.jsonl"] == E1 + E2[:1] + bytes(len(E2) - 1)
    mid = _torn(states, f"torn {k} mid-line")
    cut = len(mid.contents["events.jsonl"]) - len(E1)
    assert 0 < cut < len(E2) and mid.contents["events.jsonl"] == E1 + E2[:cut]
    assert "the STEP_STARTED of step a (seq 2) was torn" in one.explanation
    assert "1 of" in one.explanation and "zero-filled" in zeros.explanation
    assert all(not s.name.startswith("torn") or s.k < len(calls) for s in states)


def test_torn_writes_cut_at_the_512_and_4096_byte_boundaries_they_span() -> None:
    t = _Calls()
    fd = t.open("big", O_WRONLY | O_CREAT)
    t.write("big", fd, b"h" * 100)
    t.write("big", fd, bytes(range(256)) * 20)  # 5120 bytes at offset 100
    t.write("big", fd, b"q" * 50)  # spans neither
    states = torn_states(t.done(), seed=0)
    names = {s.name for s in states}
    small = _torn(states, "torn 2 at 512-byte boundary").contents["big"]
    assert small == b"h" * 100 + (bytes(range(256)) * 20)[:412]
    page = _torn(states, "torn 2 at 4096-byte boundary, zero-filled").contents["big"]
    assert len(page) == 5220 and page[:4096] == (b"h" * 100 + bytes(range(256)) * 20)[:4096]
    assert page[4096:] == bytes(5220 - 4096)
    assert not any(n.startswith("torn 3 at 512") or n.startswith("torn 3 at 4096") for n in names)
    assert "torn 3 at 1 byte" in names


def test_a_write_split_in_two_is_torn_on_its_own_line() -> None:
    """The canned event 2 is written as its line then its newline: tearing the first
    write names the event it begins."""
    calls = _canned(*CANNED[1])
    state = _torn(torn_states(calls), "torn 7 at 1 byte")
    assert "the STEP_STARTED of step a (seq 2)" in state.explanation


def test_power_loss_drops_an_unfsynced_write_and_undoes_an_unsynced_rename() -> None:
    last = power_loss_states(_run(sync_log=False, sync_outputs=False))[-1]
    assert last.contents == {"events.jsonl": E1 + E2}  # b.tmp's entry was never durable
    assert last.dirs == ("outputs",)
    assert "the STEP_SUCCEEDED of step b (seq 3) was written but never fsynced" in last.explanation
    assert "outputs/b was published but no fsync of outputs made it durable" in last.explanation


def test_power_loss_keeps_what_was_fsynced() -> None:
    last = power_loss_states(_run())[-1]
    assert last.contents == {"events.jsonl": E1 + E2 + E3, "outputs/b": b"output of b\n"}
    assert "nothing is lost" in last.explanation
    assert prefix_states(_run())[-1].contents == last.contents


def test_power_loss_needs_the_directory_fsync_for_a_new_file() -> None:
    t = _Calls()
    log = t.open("events.jsonl", LOG_FLAGS)
    t.write("events.jsonl", log, E1)
    t.fsync("events.jsonl", log)
    states = power_loss_states(t.done())
    assert states[-1].files == ()
    assert "was written but the log's entry was never made durable" in states[-1].explanation
    t.fsync(".")
    assert power_loss_states(t.done())[-1].contents == {"events.jsonl": E1}


def test_a_hard_link_shares_the_bytes_and_each_name_needs_its_directory() -> None:
    t = _Calls()
    t.mkdir("work")
    t.mkdir("outputs")
    t.fsync(".")
    fd = t.open("work/x", O_WRONLY | O_CREAT)
    t.write("work/x", fd, b"data")
    t.fsync("work/x", fd)
    t.rename("work/x", "outputs/x", "link")
    t.fsync("outputs")
    calls = t.done()
    assert prefix_states(calls)[-1].contents == {"outputs/x": b"data", "work/x": b"data"}
    assert power_loss_states(calls)[-1].contents == {"outputs/x": b"data"}


def test_the_reference_excerpt_loses_only_what_it_had_not_yet_fsynced() -> None:
    states = {s.k: s for s in power_loss_states(_canned(*CANNED[0]))}
    last = states[max(states)]
    assert last.contents["outputs/prepare"].startswith(b"probe-output step=prepare")
    log = last.contents["events.jsonl"]
    assert [json.loads(line)["seq"] for line in log.splitlines()] == [1, 2, 3]
    lost = [s for s in states.values() if "STEP_SUCCEEDED of step prepare (seq 3) was written "
            "but never fsynced" in s.explanation]
    assert len(lost) == 1 and lost[0].contents["events.jsonl"].count(b"\n") == 2


def test_materialise_writes_exact_bytes_into_a_fresh_state_dir(tmp_path: Path) -> None:
    state = next(s for s in torn_states(_run()) if s.name.endswith("zero-filled"))
    out = materialise(state, tmp_path / "state")
    got = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == state.contents
    empty = power_loss_states(_run())[-1]
    assert (materialise(empty, tmp_path / "pl") / "outputs").is_dir()


def test_materialise_refuses_a_used_folder_and_paths_outside(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_bytes(b"")
    state = prefix_states(_run())[-1]
    with pytest.raises(StateError, match="not an absent or empty"):
        materialise(state, tmp_path / "used")
    bad = CrashState("x", Model.PREFIX, 0, None, "", (("../escape", b"x"),))
    with pytest.raises(StateError, match="plain path"):
        materialise(bad, tmp_path / "fresh")
    assert not (tmp_path / "escape").exists()
