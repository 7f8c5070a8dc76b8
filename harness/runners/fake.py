"""FakeRunner: a runner made from one function, for testing without real engines.

Like httpx's MockTransport, the whole behaviour is a handler: given the command words
and the cell, it may write files into the cell and returns (returncode, stdout,
stderr). No process is started, so nothing is ever alive. It lets procedures, checks,
scoring and reports be tested fast and deterministically.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness import layout
from harness.model import Candidate
from harness.runners.base import Cell, EngineProcess, Runner

Handler = Callable[[Sequence[str], "FakeCell"], tuple[int, bytes, bytes]]


class FakeProcess(EngineProcess):
    def __init__(self, result: tuple[int, bytes, bytes]) -> None:
        self.pid = 0
        self.started = time.monotonic()
        self._code, self._out, self._err = result

    def poll(self) -> int | None:
        return self._code

    def wait(self, timeout: float) -> int | None:
        return self._code

    def send_signal(self, sig: int) -> None:
        """The fake has already finished: a signal changes nothing."""

    def output(self) -> tuple[bytes, bytes]:
        return self._out, self._err


class FakeCell(Cell):
    def __init__(self, base: Path, handler: Handler) -> None:
        self.base = base
        self.root = base / "cell"
        self.private = base / "private"
        self.engine_root = str(self.root)
        self.python = "python3"
        self.probe = str(self.private / "probe.py")
        self.handler = handler
        for sub in layout.ENGINE_DIRS:
            (self.root / sub).mkdir(parents=True)
        self.private.mkdir()

    def start(self, args: Sequence[str], wrap: Sequence[str] = ()) -> EngineProcess:
        if wrap:
            raise NotImplementedError("a fake cell cannot trace (traces is False)")
        return FakeProcess(self.handler(list(args), self))

    def alive(self, procs: Sequence[tuple[int, int | None]]) -> set[int]:
        return set()

    def end_all(self) -> None:
        """No process ever ran."""

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


class FakeRunner(Runner):
    name = "fake"

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def open_cell(self, candidate: Candidate, label: str) -> Cell:
        return FakeCell(Path(tempfile.mkdtemp(prefix="harness-fake-")), self.handler)
