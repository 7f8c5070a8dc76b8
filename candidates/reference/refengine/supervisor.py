"""Process supervision: one process group per attempt, and ending whole groups.

Properties kept on purpose:
- Each attempt starts in a new session through the launcher, so it leads its own
  process group (pgid == pid) and the command waits for the go-ahead (see launcher.py).
- Ending an attempt always signals the group, never just the leader, because
  grandchildren outlive their parents and may ignore SIGTERM.
- A group counts as gone when killpg(pgid, 0) finds no member, or /proc shows only
  zombies in it. Every wait for that is bounded: after SIGKILL a member can never run
  code again, so a straggler cannot hold the engine forever.
- A step's stdout and stderr go to a file under STATE_DIR/logs/, never to the engine's
  own streams or to the event log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")
KILL_AFTER_S = 1.0  # after a timeout's SIGTERM, SIGKILL the group this long after (<= 2 s)
GONE_WAIT_S = 2.0  # how long to wait for a SIGKILLed group's members to disappear
POLL_S = 0.02  # members of a group that are not our children give no SIGCHLD: poll


@dataclass
class Attempt:
    step: str
    attempt: int
    proc: subprocess.Popen[bytes]
    deadline: float | None  # monotonic time of the timeout
    term_at: float | None = None  # when the group was sent SIGTERM for the timeout
    killed: bool = False  # the group was sent SIGKILL
    timed_out: bool = False
    returncode: int | None = None  # the leader's, once reaped
    exited_at: float | None = None  # monotonic time the leader was reaped

    @property
    def pgid(self) -> int:
        return self.proc.pid


def spawn(command: tuple[str, ...], env: dict[str, str],
          log_path: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start the launcher for `command` in its own group; returns it and the go-ahead fd."""
    go_r, go_w = os.pipe()  # both close-on-exec; go_r is passed on explicitly
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", LAUNCHER, str(go_r), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                pass_fds=(go_r,), start_new_session=True)
    except BaseException:
        os.close(go_w)
        raise
    finally:
        os.close(go_r)
    return proc, go_w


def go_ahead(go_w: int) -> None:
    """Let the held command run; call only once its STEP_STARTED is durable."""
    try:
        os.write(go_w, b"g")
    except BrokenPipeError:
        pass  # the launcher already died; reaping it records the failed attempt
    finally:
        os.close(go_w)


def _may_signal(pgid: int) -> bool:
    """Never signal pgid 0 (our own group), 1 (init's) or our own group, whatever a log says."""
    return pgid > 1 and pgid != os.getpgrp()


def signal_group(pgid: int, sig: int) -> None:
    if not _may_signal(pgid):
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # gone already, or (EPERM) no member is ours to signal


def _live_member(pgid: int) -> bool:
    """Whether /proc shows a member of the group that is not a zombie. A killed
    grandchild stays a zombie until its new parent reaps it, which some inits do
    lazily; it runs no code, so it does not keep the attempt alive."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return True  # no /proc: trust killpg, and let the caller's bound apply
    for name in filter(str.isdigit, names):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it vanished meanwhile
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still lives (zombies count as dead)."""
    if not _may_signal(pgid):
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False  # the usual, cheap answer: no member at all
    except PermissionError:
        pass  # a member exists that we may not signal: look closer
    return _live_member(pgid)


def end_groups(pgids: list[int], reap: Sequence[subprocess.Popen[bytes]] = ()) -> list[int]:
    """SIGKILL whole groups, then wait (bounded) until they are gone; returns survivors."""
    for pgid in pgids:
        signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + GONE_WAIT_S
    alive = list(pgids)
    while alive and time.monotonic() < deadline:
        for proc in reap:
            proc.poll()  # our own child lingers as a zombie (still in the group) until reaped
        alive = [p for p in alive if group_alive(p)]
        if alive:
            time.sleep(POLL_S)  # bounded waits outside the scheduler's loop only
    return alive


def end_group(pgid: int, reap: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGKILL one whole group and wait (bounded) until it is gone; True when it is."""
    return not end_groups([pgid], [reap] if reap is not None else [])
