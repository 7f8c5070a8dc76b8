"""Nothing a cell started outlives it: not after Ctrl-C, not after kill -9 of the harness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import owner

ROOT = Path(__file__).resolve().parents[2]


def cell_processes(cells: Path) -> list[str]:
    """Live processes whose environment marks them as started in a cell under `cells`
    (other harness runs on the same machine are not this test's business)."""
    marker = f"HARNESS_CELL={cells}/".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if marker in env and stat[stat.rfind(")") + 2] not in "ZX":
            found.append(f"{name}: {stat[:80]}")
    return found


def start_scoring(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    cells = tmp_path / "cells"
    cells.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "score", "reference", "--runner", "local",
         "--scenario", "orphans-after-sigkill", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(cells)}, preexec_fn=_ctrl_c_as_at_a_terminal)
    return proc, cells


def _ctrl_c_as_at_a_terminal() -> None:
    """SIGINT at its default, as a user's shell gives it: a suite run as a background job
    (`make test &`, a CI runner without job control) ignores SIGINT, every child inherits
    that, and the harness rightly leaves an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_cell_processes(cells: Path, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if len(cell_processes(cells)) >= 4:  # the engine and step processes are up
            return
        time.sleep(0.05)
    raise AssertionError("the scenario never started its processes")


def wait_until_none(cells: Path, deadline_s: float = 15.0) -> list[str]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if not cell_processes(cells):
            return []
        time.sleep(0.05)
    return cell_processes(cells)


def test_ctrl_c_ends_every_cell_process(tmp_path: Path) -> None:
    proc, cells = start_scoring(tmp_path)
    wait_for_cell_processes(cells)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert wait_until_none(cells) == []


def test_kill_9_of_the_harness_leaves_nothing_running(tmp_path: Path) -> None:
    proc, cells = start_scoring(tmp_path)
    wait_for_cell_processes(cells)
    proc.kill()
    proc.communicate(timeout=10)
    assert wait_until_none(cells) == [], "a reaper must end its subtree when the harness dies"
    owner.sweep(cells)  # what the next run does: its cell folder is a mount pytest cannot remove


def cell_mounts(cells: Path) -> list[str]:
    """Mount points in /proc/self/mountinfo below `cells` (a cell's tmpfs)."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(f"{cells}/")]


@pytest.mark.skipif(os.geteuid() != 0, reason="a cell's tmpfs needs root to mount")
def test_the_next_run_unmounts_and_removes_a_killed_harness_cell(tmp_path: Path) -> None:
    proc, cells = start_scoring(tmp_path)
    wait_for_cell_processes(cells)
    left = cell_mounts(cells)
    assert len(left) == 1, "the cell runs on its own tmpfs"
    proc.kill()
    proc.communicate(timeout=10)
    assert wait_until_none(cells) == []
    assert cell_mounts(cells) == left and Path(left[0]).is_dir()  # kill -9 ran no clean-up
    again = subprocess.run(
        [sys.executable, "-m", "harness", "score", "reference", "--runner", "local",
         "--scenario", "invalid-workflow", "--out", str(tmp_path / "again")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(cells)})
    assert again.returncode == 0, again.stderr[-2000:]
    assert cell_mounts(cells) == []
    assert list(cells.iterdir()) == []
