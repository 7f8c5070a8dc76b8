"""Process supervision: one process group per attempt, and ending whole groups.

Each attempt starts in a new session (so a new process group whose id is the leader's
pid) through the launcher. Ending an attempt always targets the group, never just the
leader, because grandchildren outlive their parents. A group counts as gone when
killpg(pgid, 0) finds no member.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
KILL_AFTER_S = 1.0  # SIGTERM, then SIGKILL this long after (the contract allows up to 2 s)
GONE_WAIT_S = 2.0  # how long to wait for a killed group's members to disappear


@dataclass
class Attempt:
    step: str
    attempt: int
    proc: subprocess.Popen[bytes]
    deadline: float | None  # monotonic time of the timeout
    term_at: float | None = None  # when the group was sent SIGTERM
    timed_out: bool = False
    returncode: int | None = None
    exited_at: float | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid


def spawn(command: tuple[str, ...], env: dict[str, str], log_path: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start the launcher for command in its own group; returns it and the go-ahead fd."""
    go_r, go_w = os.pipe()
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-S", LAUNCHER, str(go_r), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                pass_fds=(go_r,), start_new_session=True)
        finally:
            os.close(go_r)
    return proc, go_w


def go_ahead(go_w: int) -> None:
    try:
        os.write(go_w, b"g")
    finally:
        os.close(go_w)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid: int, reap: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGKILL a whole group and wait (bounded) until it is gone; True when it is."""
    signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + GONE_WAIT_S
    while time.monotonic() < deadline:
        if reap is not None:
            reap.poll()  # our own child lingers as a zombie until reaped
        if not group_alive(pgid):
            return True
        time.sleep(0.01)
    return False
