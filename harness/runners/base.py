"""The runner interface: a small surface that every sandbox implements.

A `Runner` opens `Cell`s. A cell is one sandbox for one candidate x scenario x seed: a
directory the harness can read and write (``root``, on the host, laid out as
`harness.layout` says), a view of the same directory as the engine sees it
(``engine_root``), a harness-private folder (``private``), and the means to start the
candidate's entrypoint, signal it, and ask which recorded processes still live.
Scenarios and checks only ever talk to this interface, so they cannot tell which
runner they run on.

Errors: a runner raises `InfraError` (or `RunnerUnavailableError`) for its own
failures, never for the candidate's behaviour; a candidate that crashes, hangs or
exits oddly is an ordinary observation.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import cellfs
from harness.layout import STREAM_CAP
from harness.model import Candidate
from harness.observe import Cut
from harness.safefs import CellFiles


class EngineProcess(abc.ABC):
    """One running invocation of the candidate's entrypoint."""

    pid: int
    started: float  # time.monotonic() when it was started

    @abc.abstractmethod
    def poll(self) -> int | None:
        """The return code (negative: killed by that signal) once it exited, else None."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> int | None:
        """Wait up to timeout seconds; the return code, or None if it still runs."""

    @abc.abstractmethod
    def send_signal(self, sig: int) -> None:
        """Deliver sig to the engine process itself (not its group)."""

    @abc.abstractmethod
    def output(self) -> tuple[bytes, bytes]:
        """stdout and stderr so far: at most their first STREAM_CAP bytes each."""

    def cuts(self) -> tuple[Cut | None, Cut | None]:
        """How stdout and stderr were cut by the time the engine exited (None: not cut)."""
        return None, None


class Cell(abc.ABC):
    """One sandbox: files on the host, processes wherever the runner puts them."""

    root: Path  # host path of the engine-visible folders (harness.layout)
    private: Path  # host folder the engine cannot see: snapshots, scratch
    engine_root: str  # root as the engine sees it
    python: str  # the interpreter that runs the probe, as the engine sees it
    probe: str  # the probe program, as the engine sees it
    traces = False  # whether start() can wrap the engine in strace (harness.faults.exact)

    def engine_path(self, rel: str) -> str:
        return f"{self.engine_root}/{rel}"

    def probe_argv(self) -> list[str]:
        return [self.python, "-I", "-S", self.probe]

    def hand_over(self, rel: str) -> None:
        """Make files the harness wrote under root/rel usable by the engine (ownership)."""

    def describe(self) -> dict[str, Any]:
        """Facts about this cell's sandbox for results.json (runner, image digest ...)."""
        return {}

    def limits(self) -> dict[str, int]:
        """Resource limits the cell's processes ran into so far (name -> count); on every
        runner, a cell whose writable space is full (harness.cellfs) counts `disk_full`."""
        return {"disk_full": 1} if cellfs.full(self.root) else {}

    @abc.abstractmethod
    def start(self, args: Sequence[str], wrap: Sequence[str] = ()) -> EngineProcess:
        """Start ENTRYPOINT + args with the candidate folder as working directory; with
        wrap (a tracer's argv, ending in "--"), start wrap + ENTRYPOINT + args instead.
        The process the harness gets is the engine's either way: a wrapping tracer must
        detach itself (strace -D), so that signals and the exit code are the engine's."""

    def trace_file(self, name: str) -> tuple[str, Path]:
        """Where a tracer started in this cell writes `name`: the path as the engine's
        side sees it, and the same file on the host. Outside STATE_DIR, the audit and
        the inputs (the engine is never asked to touch it); read it with a cap."""
        raise NotImplementedError(f"{type(self).__name__} cannot trace")

    @abc.abstractmethod
    def alive(self, procs: Sequence[tuple[int, int | None]]) -> set[int]:
        """Which of these (pid, starttime) processes still run (zombies count as dead)."""

    @abc.abstractmethod
    def end_all(self) -> None:
        """End every process this cell started, and all they spawned."""

    @abc.abstractmethod
    def close(self) -> None:
        """End everything and remove the cell; safe to call twice."""


class Runner(abc.ABC):
    name: str

    @abc.abstractmethod
    def open_cell(self, candidate: Candidate, label: str) -> Cell:
        """A fresh, empty cell for candidate, with the probe installed."""

    def describe(self) -> dict[str, str]:
        """Facts recorded in results.json for every cell (runner, image digest ...)."""
        return {"runner": self.name}

    def close(self) -> None:
        """Release what the runner holds across cells."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def engine_argv(candidate: Candidate, args: Sequence[str]) -> list[str]:
    return [*candidate.entrypoint, *args]


def read_stream(path: Path) -> bytes:
    """The first STREAM_CAP bytes of an engine stream's file, never more; nothing if it is
    missing or not a regular file (where the engine can reach the folder, it may have put
    a link or a FIFO in its place: never follow one, never hang on one). The same reads
    as every other of a cell's files (`harness.safefs`); a refusal here is not a hazard
    of the candidate's, only output that is not there."""
    return CellFiles(path.parent).read(path.name, STREAM_CAP) or b""


def stream_cut(sizes: Sequence[int | str]) -> Cut | None:
    """A Cut from the [written, kept] pair that the reaper and the init report."""
    written, kept = int(sizes[0]), int(sizes[1])
    return Cut(written, kept) if written > kept else None
