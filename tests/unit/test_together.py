"""drive_together: a batch of invocations, each recorded as drive records one."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.errors import CellLimitReached
from harness.faults.inject import CellLimit, Watcher
from harness.faults.together import Call, drive_together
from harness.runners.base import EngineProcess
from harness.runners.fake import FakeCell
from harness.safefs import CellFiles


class TimedProcess(EngineProcess):
    """Exits with `code` after `takes` seconds (never, if None), or when SIGKILLed."""

    def __init__(self, code: int, takes: float | None, out: bytes) -> None:
        self.pid = 0
        self.started = time.monotonic()
        self._code, self._takes, self._out = code, takes, out
        self.killed = False

    def poll(self) -> int | None:
        if self.killed:
            return -signal.SIGKILL
        if self._takes is not None and time.monotonic() - self.started >= self._takes:
            return self._code
        return None

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (rc := self.poll()) is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return rc

    def send_signal(self, sig: int) -> None:
        self.killed = self.killed or sig == signal.SIGKILL

    def output(self) -> tuple[bytes, bytes]:
        return self._out, b""


class TimedCell(FakeCell):
    """args[0] is how long the process takes ("never": it hangs); it writes args[1] into
    the log named by args[2], relative to the cell root."""

    def __init__(self, base: Path) -> None:
        super().__init__(base, lambda args, cell: (0, b"", b""))
        self.started: list[float] = []

    def start(self, args: Sequence[str], wrap: Sequence[str] = ()) -> EngineProcess:
        self.started.append(time.monotonic())
        CellFiles(self.root).write(args[2], args[1].encode())
        takes = None if args[0] == "never" else float(args[0])
        return TimedProcess(0, takes, f"out {args[1]}".encode())


@pytest.fixture
def cell(tmp_path: Path) -> Iterator[TimedCell]:
    c = TimedCell(tmp_path / "c")
    CellFiles(c.root).mkdir("work/a")
    CellFiles(c.root).mkdir("work/b")
    CellFiles(c.root).write("work/a/events.jsonl", b"before-a")
    yield c
    c.close()


def test_every_call_runs_at_once_and_is_recorded_in_call_order(cell: TimedCell) -> None:
    calls = [Call("a", ("0.2", "after-a", "work/a/events.jsonl"), "work/a/events.jsonl"),
             Call("b", ("0.05", "after-b", "work/b/events.jsonl"), "work/b/events.jsonl")]
    invs = drive_together(cell, Watcher(cell), calls, bound_s=10)
    assert max(cell.started) < min(i.ended for i in invs)  # both ran at once
    assert [i.label for i in invs] == ["a", "b"]
    assert [i.returncode for i in invs] == [0, 0]
    assert invs[0].log_before == b"before-a" and invs[0].log_after == b"after-a"
    assert invs[1].log_before is None and invs[1].log_after == b"after-b"
    assert invs[0].stdout == b"out after-a"
    assert invs[1].ended < invs[0].ended


def test_one_past_its_bound_is_killed_and_says_so_the_rest_finish(cell: TimedCell) -> None:
    calls = [Call("hangs", ("never", "x", "work/a/events.jsonl"), "work/a/events.jsonl"),
             Call("quick", ("0.01", "y", "work/b/events.jsonl"), "work/b/events.jsonl")]
    hangs, quick = drive_together(cell, Watcher(cell), calls, bound_s=0.2)
    assert hangs.returncode is None and "killed at the harness bound 0.2 s" in hangs.fault
    assert quick.returncode == 0 and not quick.fault


def test_the_cell_limit_ends_the_batch_and_keeps_what_it_cut(cell: TimedCell) -> None:
    limit = CellLimit.starting_now(0.2)
    calls = [Call("hangs", ("never", "x", "work/a/events.jsonl"), "work/a/events.jsonl"),
             Call("quick", ("0.01", "y", "work/b/events.jsonl"), "work/b/events.jsonl")]
    with pytest.raises(CellLimitReached):
        drive_together(cell, Watcher(cell), calls, bound_s=10, limit=limit)
    assert [i.label for i in limit.cut] == ["hangs"]
    assert limit.fault in limit.cut[0].fault
