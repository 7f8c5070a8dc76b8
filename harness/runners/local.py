"""LocalRunner: cells as temporary directories and engines as local processes.

Each engine invocation runs under its own reaper (``harness/sandbox/reaper.py``), a
child subreaper, so every process the candidate spawns stays in a subtree the harness
can end, even when it leaves its process group or session. The reaper also ends that
subtree when the harness dies, because its stdin closes. It keeps the first
`layout.STREAM_CAP` bytes of the engine's stdout and stderr, and counts the rest. The
cell's folder, with the engine's HOME and TMPDIR in it, is a size-limited tmpfs where
the harness runs as root (`harness.cellfs`). This gives no other isolation from the
host: it is for machines without Docker and for fast development loops.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import cellfs, layout, owner, procfs, tree
from harness.errors import InfraError, SpawnError
from harness.model import Candidate
from harness.observe import Cut
from harness.runners.base import Cell, EngineProcess, Runner, engine_argv, read_stream, stream_cut

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"
REAPER = SANDBOX / "reaper.py"
PROBE = SANDBOX / "probe.py"


class LocalEngineProcess(EngineProcess):
    def __init__(self, reaper: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self._reaper = reaper
        self._out, self._err = out, err
        self._returncode: int | None = None
        self._cuts: tuple[Cut | None, Cut | None] = (None, None)
        self.started = time.monotonic()
        line = self._read_line(10.0)
        if line is None or not line.startswith("PID "):
            self.end()
            kind = SpawnError if line and line.startswith("SPAWN_ERROR") else InfraError
            raise kind(f"reaper did not start the engine: {line!r}")
        self.pid = int(line.split()[1])

    def _read_line(self, timeout: float) -> str | None:
        assert self._reaper.stdout is not None
        ready, _, _ = select.select([self._reaper.stdout], [], [], max(0.0, timeout))
        if not ready:
            return None
        raw = self._reaper.stdout.readline()  # unbuffered: select() sees every byte
        if not raw:
            raise InfraError("the reaper of an engine process died")
        return raw.decode().strip()

    def poll(self) -> int | None:
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self._returncode is None:
            line = self._read_line(deadline - time.monotonic())
            if line is None:
                return None
            if line.startswith("EXIT "):  # EXIT code, then [written, kept] of each stream
                words = line.split()
                self._returncode = int(words[1])
                self._cuts = (stream_cut(words[2:4]), stream_cut(words[4:6]))
        return self._returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a pid the reaper may have released
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def output(self) -> tuple[bytes, bytes]:
        return read_stream(self._out), read_stream(self._err)

    def cuts(self) -> tuple[Cut | None, Cut | None]:
        return self._cuts

    def end(self) -> None:
        """End the engine and its whole subtree, then the reaper."""
        if self._reaper.poll() is None:
            try:
                assert self._reaper.stdin is not None
                self._reaper.stdin.write(b"KILL\n")
                self._reaper.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self._reaper.wait(30)
            except subprocess.TimeoutExpired as exc:
                self._reaper.kill()
                raise InfraError("a reaper did not end its processes within 30 s") from exc
        for stream in (self._reaper.stdin, self._reaper.stdout):
            if stream is not None:
                stream.close()


class LocalCell(Cell):
    def __init__(self, candidate: Candidate, base: Path) -> None:
        self.candidate = candidate
        self.base = base
        self.disk = cellfs.limit(base)  # before anything is written there
        owner.mark(base)
        self.root = base / "cell"
        self.private = base / "private"
        self.engine_root = str(self.root)
        self.python = sys.executable
        self._procs: list[LocalEngineProcess] = []
        for sub in layout.ENGINE_DIRS:
            (self.root / sub).mkdir(parents=True)
        for sub in ("probe", "io", "home", "tmp"):
            (self.private / sub).mkdir(parents=True)
        shutil.copy2(PROBE, self.private / "probe" / "probe.py")
        # A candidate that extends another runs from the merged tree, as in its image.
        self.workdir = (tree.materialize(candidate, self.private / "candidate")
                        if candidate.extends else candidate.path)
        self.probe = str(self.private / "probe" / "probe.py")

    def _env(self) -> dict[str, str]:
        path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin",
                                "/bin"])
        return {"PATH": path, "HOME": str(self.private / "home"),
                "TMPDIR": str(self.private / "tmp"), "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1", "HARNESS_CELL": str(self.base)}

    traces = True

    def trace_file(self, name: str) -> tuple[str, Path]:
        path = self.private / "io" / name
        return str(path), path

    def start(self, args: Sequence[str], wrap: Sequence[str] = ()) -> EngineProcess:
        n = len(self._procs)
        out, err = self.private / "io" / f"{n}.out", self.private / "io" / f"{n}.err"
        argv = [sys.executable, "-S", str(REAPER), str(layout.STREAM_CAP), str(out), str(err),
                "--", *wrap, *engine_argv(self.candidate, args)]
        try:
            reaper = subprocess.Popen(argv, cwd=self.workdir, env=self._env(),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      bufsize=0, start_new_session=True)
        except OSError as exc:
            raise InfraError(f"cannot start the reaper: {exc}") from exc
        proc = LocalEngineProcess(reaper, out, err)
        self._procs.append(proc)
        return proc

    def alive(self, procs: Sequence[tuple[int, int | None]]) -> set[int]:
        return {pid for pid, start in procs if procfs.is_alive(pid, start)}

    def describe(self) -> dict[str, Any]:
        return {"runner": "local", "disk": self.disk}

    def end_all(self) -> None:
        for proc in self._procs:
            proc.end()

    def close(self) -> None:
        try:
            self.end_all()
        finally:  # its tmpfs goes even when a reaper failed to end its processes
            self._procs.clear()
            cellfs.remove(self.base)


class LocalRunner(Runner):
    name = "local"

    def __init__(self, base_dir: Path | None = None) -> None:
        self._base = base_dir
        owner.sweep(base_dir)  # cell folders of harness runs that were killed

    def open_cell(self, candidate: Candidate, label: str) -> Cell:
        try:
            root = Path(tempfile.mkdtemp(prefix=f"harness-{label}-", dir=self._base)).resolve()
        except OSError as exc:
            raise InfraError(f"cannot create a cell directory: {exc}") from exc
        try:
            return LocalCell(candidate, root)
        except BaseException:
            cellfs.remove(root)
            raise
