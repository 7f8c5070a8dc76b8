"""Process supervision: one process group per attempt, and ending whole groups.

Properties kept on purpose:
- Each attempt's leader leads its own process group (pgid == pid) and holds the
  command until the engine's go-ahead on a pipe, then execs it, keeping the pid and pgid
  the log names. The engine writes STEP_STARTED with that pid and sends the go-ahead only
  once it is durable. If the engine dies first, the pipe closes with no byte and the
  command never runs (exit 125).
- The leader is made by posix_spawn (vfork, then exec: the engine's memory is never
  copied) of a launcher, with its group, its stdin (/dev/null), the go-ahead pipe on
  fd 3 and default signal dispositions (the signals the engine set or Python ignores:
  SIGPIPE, SIGXFSZ) set up by the spawn itself. The launcher waits for the go-ahead
  (EOF: exit 125, having run and created nothing), closes the pipe, sends its stdout
  and stderr to the step's log file (created there, not while the engine waits out the
  vfork: a file creation can wait on the file system's journal; if it fails, it says
  why on the engine's stderr and the attempt exits 2) and execs the command, found in
  PATH as execvp finds it (exit 127 when it is not found, 126 when it cannot be run).
- The launcher is launch/launch-MACHINE, built from launch/launch.c: a static program
  with no C library, whose exec costs a few pages, so an attempt costs about one exec,
  its command's. Where it cannot run, /bin/sh does the same steps (`_LAUNCH`), for a
  second dynamically linked exec per attempt: as much again. A fork of the engine made
  each attempt before: each fork shares the engine's pages copy-on-write until the
  attempt execs, and the engine took ~200 page faults per attempt on its own writes.
- When sh cannot carry the environment (a name sh would drop) or cannot be spawned
  (no /bin/sh), the engine forks: the child runs
  a few system calls of the already loaded engine (`_child`), the same setup, closes
  every other descriptor, waits for the go-ahead, and execs (127 if that fails, saying
  why in the step's log or the engine's stderr). Descriptors the engine inherited are
  made close-on-exec once, so no way hands them to a step.
- Ending an attempt always signals the group, never just the leader, because
  grandchildren outlive their parents and may ignore SIGTERM.
- A group counts as gone when killpg(pgid, 0) finds no member, or /proc shows only
  zombies in it. Every wait for that is bounded: after SIGKILL a member can never run
  code again, so a straggler cannot hold the engine forever.
- A step's stdout and stderr go to a file under STATE_DIR/logs/, never to the engine's
  own streams or to the event log.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

KILL_AFTER_S = 1.0  # after a timeout's SIGTERM, SIGKILL the group this long after (<= 2 s)
GONE_WAIT_S = 2.0  # how long to wait for a SIGKILLed group's members to disappear
POLL_S = 0.02  # members of a group that are not our children give no SIGCHLD: poll


_RESET = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGCHLD", "SIGPIPE", "SIGXFSZ")
               if hasattr(signal, n))
_MAX_FD = max(256, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 256)


class Child:
    """An attempt's leader, forked by `spawn`: what the engine uses of subprocess.Popen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The leader's exit status (-signum when a signal ended it) once it has exited."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 255  # reaped elsewhere: never count it as a success
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        until = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if until is not None and time.monotonic() >= until:
                import subprocess  # here only: the scheduler never waits, and `run` starts faster

                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode


@dataclass
class Attempt:
    step: str
    attempt: int
    proc: Child
    deadline: float | None  # monotonic time of the timeout
    term_at: float | None = None  # when the group was sent SIGTERM for the timeout
    killed: bool = False  # the group was sent SIGKILL
    timed_out: bool = False
    returncode: int | None = None  # the leader's, once reaped
    exited_at: float | None = None  # monotonic time the leader was reaped
    go_w: int | None = None  # the go-ahead pipe, until STEP_STARTED is durable

    @property
    def pgid(self) -> int:
        return self.proc.pid


def _child(argv: list[str], env: dict[str, str], log_path: str, go_r: int,
           cwd: str | None, keep_stdin: bool) -> None:
    """In the forked child: become the attempt's leader, open the step's log file (here,
    not in the engine, so the engine's loop never waits on a file creation), wait for
    the go-ahead, exec."""
    try:
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.setpgid(0, 0)
        go = fcntl.fcntl(go_r, fcntl.F_DUPFD, 10)  # out of the way of 0-3, whatever they are
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not keep_stdin:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(go, 3)
        os.closerange(4, _MAX_FD)  # no other attempt's pipe, no lock, no log fd
        if os.read(3, 1) != b"g":
            os._exit(125)  # the engine died before STEP_STARTED was durable: run nothing
        os.close(3)
        if cwd is not None:
            os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:  # noqa: BLE001 - the child must never return
        try:
            why = getattr(exc, "strerror", None) or str(exc)
            os.write(2, f"engine: cannot run {argv[0]!r}: {why}\n".encode("utf-8", "replace"))
        finally:
            os._exit(127)
    finally:
        os._exit(127)


# The launcher: launch/launch-MACHINE, a static program with no C library (launch.c says
# what it does), so its exec costs a few pages. Where it is missing or cannot run (another
# machine, a file system mounted noexec), /bin/sh runs `_LAUNCH` instead: the same steps,
# for a second dynamically linked exec per attempt. sh sets PWD, so it puts PWD back as
# the engine had it.
_BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch",
                       f"launch-{os.uname().machine}")
_binary_ok = os.access(_BINARY, os.X_OK)
# posix_spawn's vfork child must exec before the engine goes on, and the kernel may place
# it on a core busy with running steps while the engine's own core sits idle waiting for
# it: 0.6 ms per spawn under load, against 0.15 ms quiet. So while the launcher is in
# use, the engine keeps to one of its CPUs (`_bind`), where a new child runs at once as
# the engine waits for it, and the launcher's first act is to take the engine's own CPU
# set back (`_CPUS`), before the command ever runs. sh and fork children are spawned
# with the engine unbound, so every command runs on the engine's own CPUs.
_OWN_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
_CPUS = format(sum(1 << c for c in _OWN_CPUS), "x") if len(_OWN_CPUS) > 1 else "-"
_bound = False
_LAUNCH = ('IFS= read -r go <&3; [ "$go" = g ] || exit 125; exec 3<&-; exec >>"$4" 2>&1; '
           '[ -z "$1" ] || cd -- "$1" || exit 127; '
           'if [ "$2" = 1 ]; then PWD=$3; else unset PWD; fi; shift 4; exec "$@"')
_SH = "/bin/sh"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z").match  # what sh passes on to the command
_inherited_closed = False


def _bind(on: bool) -> None:
    """Keep the engine to its first CPU (on), or give it its own set back."""
    global _bound
    if on != _bound and _CPUS != "-":
        try:
            os.sched_setaffinity(0, {min(_OWN_CPUS)} if on else _OWN_CPUS)
            _bound = on
        except OSError:
            pass  # unbound, the launcher is only slower to start


def _close_inherited_on_exec() -> None:
    """Once: descriptors the engine inherited (beyond 0-2) do not reach a step. Its own
    are close-on-exec already (PEP 446)."""
    global _inherited_closed
    _inherited_closed = True
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 256))
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # closed meanwhile (the listing's own descriptor)


def _launch(argv: list[str], env: dict[str, str], log_path: str, go_r: int,
            cwd: str | None, keep_stdin: bool) -> int | None:
    """posix_spawn (vfork and exec: no copy of the engine's memory, which fork shares
    copy-on-write until the attempt execs, and every page the engine then writes is a
    fault) of the launcher, as the attempt's group leader; None when no launcher can be
    used (none runs here, an environment name sh would drop, or the spawn fails). The
    static launcher knows no working directory: with `cwd`, sh goes there."""
    global _binary_ok
    if not hasattr(os, "posix_spawn"):
        return None
    if not _inherited_closed:
        _close_inherited_on_exec()
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_DUP2, go_r, 3)]
    if not keep_stdin:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    if _binary_ok and cwd is None:
        _bind(True)
        try:
            return os.posix_spawn(_BINARY, ["launch", _CPUS if _bound else "-", log_path, *argv],
                                  env, file_actions=actions, setpgroup=0, setsigdef=_RESET)
        except OSError:
            _binary_ok = False  # e.g. ENOEXEC or a noexec mount: sh from now on
    _bind(False)  # what sh or a fork starts keeps the engine's CPUs
    if not all(map(_NAME, env)):
        return None
    pwd = env.get("PWD")
    args = ["sh", "-c", _LAUNCH, "sh", cwd or "", "0" if pwd is None else "1", pwd or "",
            log_path, *argv]
    try:
        return os.posix_spawn(_SH, args, env, file_actions=actions, setpgroup=0,
                              setsigdef=_RESET)
    except OSError:
        return None


def spawn(command: tuple[str, ...], env: dict[str, str], log_path: str,
          cwd: str | None = None, keep_stdin: bool = False) -> tuple[Child, int]:
    """Start the attempt's leader in its own group, holding `command` until the go-ahead
    (see `go_ahead`); returns it and the go-ahead fd. Its stdout and stderr go to
    log_path (opened by the child: if that fails, the attempt exits non-zero saying why
    on the engine's stderr), its stdin is /dev/null (the engine's own with keep_stdin),
    its working directory the engine's (or cwd)."""
    go_r, go_w = os.pipe()  # both close-on-exec
    argv = list(command)
    if go_r < 4:  # dup2 onto 3 would keep it close-on-exec; 0-2 are replaced
        go_r, old = fcntl.fcntl(go_r, fcntl.F_DUPFD_CLOEXEC, 10), go_r
        os.close(old)
    try:
        launched = _launch(argv, env, log_path, go_r, cwd, keep_stdin)
        if launched is not None:
            return Child(launched), go_w
        pid = os.fork()
        if pid == 0:
            _child(argv, env, log_path, go_r, cwd, keep_stdin)  # never returns
        try:
            os.setpgid(pid, pid)  # as the child does: whoever runs first makes the group
        except OSError:
            pass  # the child did it already (EACCES after exec cannot happen: it waits)
    except BaseException:
        os.close(go_w)
        raise
    finally:
        os.close(go_r)
    return Child(pid), go_w


def go_ahead(go_w: int) -> None:
    """Let the held command run; call only once its STEP_STARTED is durable."""
    try:
        os.write(go_w, b"g")
    except BrokenPipeError:
        pass  # the child already died; reaping it records the failed attempt
    finally:
        os.close(go_w)


@functools.cache
def _own_pgrp() -> int:
    return os.getpgrp()  # the engine never changes its own group


def _may_signal(pgid: int) -> bool:
    """Never signal pgid 0 (our own group), 1 (init's) or our own group, whatever a log says."""
    return pgid > 1 and pgid != _own_pgrp()


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


def end_groups(pgids: list[int], reap: Sequence[Child] = ()) -> list[int]:
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


def end_group(pgid: int, reap: Child | None = None) -> bool:
    """SIGKILL one whole group and wait (bounded) until it is gone; True when it is."""
    return not end_groups([pgid], [reap] if reap is not None else [])
