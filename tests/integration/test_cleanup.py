"""Nothing a cell started outlives it: not after Ctrl-C, not after kill -9 of the harness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cell_processes() -> list[str]:
    """Processes whose environment marks them as started inside a harness cell."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if b"HARNESS_CELL=" in env and stat[stat.rfind(")") + 2] not in "ZX":
            found.append(f"{name}: {stat[:80]}")
    return found


def start_scoring(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "score", "reference", "--runner", "local",
         "--scenario", "orphans-after-sigkill", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_cell_processes(deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if len(cell_processes()) >= 4:  # the engine and step processes are up
            return
        time.sleep(0.05)
    raise AssertionError("the scenario never started its processes")


def wait_until_none(deadline_s: float = 15.0) -> list[str]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        left = cell_processes()
        if not left:
            return []
        time.sleep(0.05)
    return cell_processes()


def test_ctrl_c_ends_every_cell_process(tmp_path: Path) -> None:
    assert cell_processes() == []
    proc = start_scoring(tmp_path)
    wait_for_cell_processes()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert wait_until_none() == []


def test_kill_9_of_the_harness_leaves_nothing_running(tmp_path: Path) -> None:
    assert cell_processes() == []
    proc = start_scoring(tmp_path)
    wait_for_cell_processes()
    proc.kill()
    proc.wait(10)
    assert wait_until_none() == [], "a reaper must end its subtree when the harness dies"
