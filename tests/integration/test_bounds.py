"""Bounded everything, local runner: a greedy engine (tests/fixtures/greedy_engine.py) takes
what it can, and the host keeps at most the caps.

Each test measures the ground truth on the host while the harness runs and after it:
the cell folder's file system and its use, the kept stream files, the harness's peak
memory from results.json, the folders and mounts left in the temp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import cellfs, layout
from harness.manifest import load_candidate
from harness.model import Candidate
from harness.observe import Cut
from harness.runners.local import LocalRunner
from tests.fixtures import greedy_engine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="a cell's tmpfs needs root to mount")
MIB = 1 << 20


def greedy(tmp_path: Path, mode: str, entrypoint: list[str] | None = None) -> Candidate:
    folder = tmp_path / f"greedy-{mode}"
    folder.mkdir()
    shutil.copy2(FIXTURES / "greedy_engine.py", folder / "greedy_engine.py")
    words = entrypoint or ["python3", "greedy_engine.py", mode]
    (folder / "candidate.toml").write_text(
        f'name = "greedy-{mode}"\nlanguage = "python"\nentrypoint = {json.dumps(words)}\n')
    return load_candidate(folder)


def mounts_under(folder: Path) -> list[str]:
    """Mount points in /proc/self/mountinfo at or below folder."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")  # octal escapes: \040
        if point == str(folder) or point.startswith(f"{folder}/"):
            found.append(line)
    return found


class Sampler:
    """Samples, every few ms while the harness runs, each cell folder under `cells`: is it
    a tmpfs, and how much of it is used; and how much the host file system of `cells`
    holds beyond what it held at the start."""

    def __init__(self, cells: Path) -> None:
        self.cells = cells
        self.cell_used: dict[str, int] = {}
        self.cell_size: dict[str, int] = {}
        self.host_growth = 0
        self._host_used0 = self._used(cells)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _used(path: Path) -> int:
        st = os.statvfs(path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def _run(self) -> None:
        while not self._stop.is_set():
            self.host_growth = max(self.host_growth, self._used(self.cells) - self._host_used0)
            host_dev = os.stat(self.cells).st_dev
            for d in self.cells.glob("harness-*"):
                # One descriptor pins the inode, so "is it a mount" and "how full" are
                # asked of the same file system: by path, a cell unmounted between the
                # two questions would be measured as the host's disk.
                try:
                    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
                except OSError:
                    continue  # the cell closed under us
                try:
                    if os.fstat(fd).st_dev != host_dev:  # its own file system: the tmpfs
                        st = os.fstatvfs(fd)
                        self.cell_size[d.name] = st.f_blocks * st.f_frsize
                        used = (st.f_blocks - st.f_bfree) * st.f_frsize
                        self.cell_used[d.name] = max(self.cell_used.get(d.name, 0), used)
                finally:
                    os.close(fd)
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def cells(tmp_path: Path) -> Iterator[Path]:
    """The temp folder of the harness under test; at the end, nothing may be left in it."""
    folder = tmp_path / "cells"
    folder.mkdir()
    yield folder
    assert mounts_under(folder) == [], "a cell's tmpfs outlived the harness"
    assert list(folder.iterdir()) == [], "a cell folder outlived the harness"


def score(tmp_path: Path, cells: Path, cand: Candidate, scenario: str) -> dict[str, object]:
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "harness", "score", str(cand.path), "--runner",
                        "local", "--scenario", scenario, "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TMPDIR": str(cells)})
    assert "Traceback" not in p.stderr and p.returncode in (0, 1), p.stderr[-3000:]
    doc: dict[str, object] = json.loads((out / "results.json").read_text())
    return doc


def evidence_of(doc: dict[str, object], name: str) -> list[str]:
    cands = doc["candidates"]
    assert isinstance(cands, dict)
    return [e["seen"] for c in cands[name]["checks"] for e in c["evidence"]]


def peak_rss_mb(doc: dict[str, object]) -> float:
    facts = doc["harness"]
    assert isinstance(facts, dict)
    return float(facts["peak_rss_mb"])


@ROOT_ONLY
def test_a_stdout_flood_is_cut_and_said(tmp_path: Path, cells: Path) -> None:
    cand = greedy(tmp_path, "flood")
    with Sampler(cells) as seen:
        doc = score(tmp_path, cells, cand, "clean-run")
    out_mb, err_mb = greedy_engine.FLOOD_OUT_MB, greedy_engine.FLOOD_ERR_MB
    note = (f"the engine wrote {out_mb} MiB to stdout; the harness kept the first 4 MiB (the"
            " cap) and dropped the rest")
    assert any(note in s for s in evidence_of(doc, "greedy-flood")), evidence_of(doc, "greedy-flood")
    assert seen.cell_size and set(seen.cell_size.values()) == {cellfs.SIZE_MB * MIB}
    # what the host held for the cell: the kept files, never the flood
    assert max(seen.cell_used.values()) < 32 * MIB, seen.cell_used
    assert seen.host_growth < (out_mb + err_mb) * MIB // 4, seen.host_growth
    assert peak_rss_mb(doc) < 500


@ROOT_ONLY
def test_a_disk_filler_fills_only_its_cell(tmp_path: Path, cells: Path) -> None:
    cand = greedy(tmp_path, "fill")
    with Sampler(cells) as seen:
        doc = score(tmp_path, cells, cand, "c*")  # clean-run, changed-workflow, crash-loop ...
    assert seen.cell_used and max(seen.cell_used.values()) <= cellfs.SIZE_MB * MIB
    assert max(seen.cell_used.values()) > (cellfs.SIZE_MB - 8) * MIB  # it did fill the cell
    assert seen.host_growth < cellfs.SIZE_MB * MIB // 2, seen.host_growth
    seen_texts = evidence_of(doc, "greedy-fill")
    # changed-workflow writes a second workflow file after the first run: into a full cell
    assert any("the cell's file system was full when the harness wrote to it" in s
               for s in seen_texts), seen_texts
    cands = doc["candidates"]
    assert isinstance(cands, dict)
    assert all(c["sandbox"]["disk"] == f"tmpfs {cellfs.SIZE_MB} MiB"
               for c in cands["greedy-fill"]["cells"])
    clean = next(c for c in cands["greedy-fill"]["cells"] if c["scenario"] == "clean-run")
    assert clean["sandbox"]["limits_hit"] == {"disk_full": 1}
    assert peak_rss_mb(doc) < 500


def test_kept_output_is_exactly_the_cap(tmp_path: Path, cells: Path) -> None:
    runner = LocalRunner(cells)
    cell = runner.open_cell(greedy(tmp_path, "flood"), "flood")
    try:
        proc = cell.start(["run", "in/workflow.json", "work/state"])
        assert proc.wait(120) == 3
        out, err = proc.output()
        out_cut, err_cut = proc.cuts()
    finally:
        cell.close()
    assert len(out) == len(err) == layout.STREAM_CAP
    assert out_cut == Cut(greedy_engine.FLOOD_OUT_MB * MIB, layout.STREAM_CAP)
    assert err_cut == Cut(greedy_engine.FLOOD_ERR_MB * MIB + 1 + len(greedy_engine.LAST_WORDS),
                          layout.STREAM_CAP)


@ROOT_ONLY
def test_a_cell_out_of_inodes_still_runs_the_next_invocation(tmp_path: Path, cells: Path) -> None:
    """The engine's stream files cannot be made any more: the engine still runs, and its
    output is counted as dropped."""
    runner = LocalRunner(cells)
    cell = runner.open_cell(greedy(tmp_path, "files", ["python3", "greedy_engine.py"]), "files")
    try:
        for _ in range(2):
            proc = cell.start(["files", "run", "in/workflow.json", str(cell.root / layout.STATE)])
            assert proc.wait(120) == 3
        assert os.statvfs(cell.root).f_favail == 0 and cell.limits() == {"disk_full": 1}
        proc = cell.start(["lastwords"])
        assert proc.wait(30) == 3
        assert proc.output() == (b"", b"")
        assert proc.cuts() == (None, Cut(len(greedy_engine.LAST_WORDS), 0))
    finally:
        cell.close()


def test_stderr_written_just_before_exit_is_never_lost(tmp_path: Path, cells: Path) -> None:
    words = greedy_engine.LAST_WORDS.decode().strip()
    cand = greedy(tmp_path, "lastwords", ["sh", "-c", f"echo '{words}' >&2; exit 3"])
    runner = LocalRunner(cells)
    cell = runner.open_cell(cand, "lastwords")
    lost = []
    try:
        for i in range(300):
            proc = cell.start([])
            code = proc.wait(30)
            out, err = proc.output()
            if code != 3 or err != greedy_engine.LAST_WORDS or proc.cuts() != (None, None):
                lost.append((i, code, err))
            cell.end_all()  # each reaper ends, so 300 of them never run at once
    finally:
        cell.close()
    assert lost == []


def test_a_grandchild_holding_stdout_delays_nothing(tmp_path: Path, cells: Path) -> None:
    """The engine exits at once but leaves a process that keeps writing to its stdout."""
    script = "(while :; do echo tick; sleep 0.05; done) & echo bye >&2; exit 5"
    runner = LocalRunner(cells)
    cell = runner.open_cell(greedy(tmp_path, "grandchild", ["sh", "-c", script]), "grandchild")
    try:
        proc = cell.start([])
        t0 = time.monotonic()
        assert proc.wait(30) == 5
        assert time.monotonic() - t0 < 2.0
        assert proc.output()[1] == b"bye\n"
        time.sleep(0.3)
        assert proc.output()[0].count(b"tick\n") >= 2  # it is still drained after the exit
    finally:
        t0 = time.monotonic()
        cell.close()
    assert time.monotonic() - t0 < 10.0


@ROOT_ONLY
def test_without_root_a_cell_has_no_limit_and_says_so() -> None:
    """The same call, made by an unprivileged user (a forked child that dropped root):
    the mount is refused, nothing is mounted, and the cell's describe() says why."""
    folder = Path(tempfile.mkdtemp(prefix="bounds-nonroot-"))
    folder.chmod(0o777)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, try, report, and leave without pytest's clean-up
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, cellfs.limit(folder).encode())
        finally:
            os._exit(0)
    os.close(w)
    said = os.read(r, 4096).decode()
    os.close(r)
    os.waitpid(pid, 0)
    try:
        assert said == "no limit: not root"
        assert not os.path.ismount(folder)
    finally:
        cellfs.remove(folder)
