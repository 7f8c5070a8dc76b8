"""The reaper: a child subreaper that owns one engine invocation and everything it spawns.

Usage: ``python3 reaper.py STDOUT_FILE STDERR_FILE -- ARGV...``

It marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so processes that the
engine orphans, even ones that left the engine's process group or session, re-parent
to it instead of to init. Its subtree is therefore exactly the processes of this
invocation, which lets the harness end them all, whatever the candidate did.

Protocol on its stdout (line based): ``PID <engine pid>`` once the engine runs, then
``EXIT <returncode>`` when the engine ends (negative: killed by that signal). It keeps
reaping orphans after that. It ends the whole subtree (SIGSTOP all, then SIGKILL, until
none is left) and exits when a line ``KILL`` arrives on stdin or stdin closes, so a
harness that dies, even by SIGKILL, leaves nothing running.

Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """Every live process below root, from a scan of /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := stat_fields(int(name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap() -> list[tuple[int, int]]:
    done: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


def freeze_and_kill(pids_now: Callable[[], list[int]], reap_some: Callable[[], object]) -> int:
    """SIGSTOP then SIGKILL every process pids_now() names, until it names none.

    Freezing first stops a process from forking while its siblings die. Returns how
    many processes were ended."""
    seen: set[int] = set()
    for _ in range(1000):
        pids = pids_now()
        if not pids:
            break
        seen.update(pids)
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        time.sleep(0.002)
        reap_some()
    reap_some()
    return len(seen)


def end_subtree() -> None:
    """Freeze then kill every descendant, until the subtree is empty."""
    me = os.getpid()
    freeze_and_kill(lambda: descendants(me), reap)


def say(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def main(argv: list[str]) -> int:
    out_path, err_path, sep, *command = argv
    if sep != "--" or not command:
        print("usage: reaper.py STDOUT STDERR -- ARGV...", file=sys.stderr)
        return 2
    set_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes select(): no polling, no idle CPU
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)  # the harness ends us through stdin
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            engine = subprocess.Popen(command, stdout=out, stderr=err,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            say(f"SPAWN_ERROR {exc}")
            return 0
    say(f"PID {engine.pid}")
    engine_done = False
    while True:
        for pid, status in reap():
            if pid == engine.pid and not engine_done:
                engine_done = True
                say(f"EXIT {os.waitstatus_to_exitcode(status)}")
        ready, _, _ = select.select([sys.stdin, wake_r], [], [], 1.0)
        if wake_r in ready:
            os.read(wake_r, 4096)
        if sys.stdin in ready:
            line = sys.stdin.buffer.readline()
            if not line or line.strip() == b"KILL":
                end_subtree()
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
