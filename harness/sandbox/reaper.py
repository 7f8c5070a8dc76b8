"""The reaper: a child subreaper that owns one engine invocation and everything it spawns.

Usage: ``python3 reaper.py CAP STDOUT_FILE STDERR_FILE -- ARGV...``

It marks itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so processes that the
engine orphans, even ones that left the engine's process group or session, re-parent
to it instead of to init. Its subtree is therefore exactly the processes of this
invocation, which lets the harness end them all, whatever the candidate did.

The engine's stdout and stderr are pipes that the reaper drains: the first CAP bytes of
each go to its file, the rest is read, counted and dropped, so a flooding engine never
blocks and never fills anything. A process that keeps a pipe open after the engine
exits is drained too, until the reaper ends.

Protocol on its stdout (line based): ``PID <engine pid>`` once the engine runs, then
``EXIT <returncode> <stdout written> <stdout kept> <stderr written> <stderr kept>`` when
the engine ends (negative returncode: killed by that signal; sizes in bytes). Before it
says EXIT it reads everything the engine left in its pipes, so nothing the engine wrote
just before it exited is missing from the files. It keeps reaping orphans after that.
It ends the whole subtree (SIGSTOP all, then SIGKILL, until none is left) and exits
when a line ``KILL`` arrives on stdin or stdin closes, so a harness that dies, even by
SIGKILL, leaves nothing running.

Standard library only.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import sys
import time
from collections.abc import Callable

PR_SET_CHILD_SUBREAPER = 36
# fcntl names it from Python 3.10 on; a candidate's image may have an older python3
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


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


class Stream:
    """One engine output pipe: its first `cap` bytes go to a file, the rest is counted.

    Reads never block (the read end is non-blocking). Where the file cannot be made or
    written (the engine filled its cell, blocks or inodes), nothing more is kept, but the
    engine still runs and the stream is still drained and counted."""

    CHUNK = 65536

    def __init__(self, fd: int, path: str, cap: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd  # the read end; -1 once the last writer closed it
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            self.file = os.open(path, flags, 0o644)
        except OSError:
            self.file = -1
        self.cap = cap
        self.written = 0  # bytes the engine (and what it spawned) wrote to the pipe
        self.kept = 0  # of those, bytes in the file
        self._buf = bytearray(self.CHUNK)

    def pump(self, limit: int) -> None:
        """Read what the pipe holds now, up to `limit` bytes (a writer that never stops
        must not hold the caller here)."""
        got = 0
        while self.fd >= 0 and got < limit:
            try:
                n = os.readv(self.fd, [self._buf])
            except BlockingIOError:
                return
            if n == 0:
                self.close()
                return
            got += n
            self._keep(memoryview(self._buf)[: min(n, self.cap - self.kept)])
            self.written += n

    def drain(self) -> None:
        """Read everything that is in the pipe at this moment: at most its capacity, so a
        writer that keeps writing cannot make this last."""
        if self.fd >= 0:
            self.pump(fcntl.fcntl(self.fd, F_GETPIPE_SZ))

    def _keep(self, data: memoryview) -> None:
        while len(data) and self.file >= 0:
            try:
                n = os.write(self.file, data)
            except OSError:  # no space left: what is not kept is dropped, and counted so
                os.close(self.file)
                self.file = -1
                return
            self.kept += n
            data = data[n:]

    def close(self) -> None:
        for fd in (self.fd, self.file):
            if fd >= 0:
                os.close(fd)
        self.fd = self.file = -1

    def sizes(self) -> list[int]:
        return [self.written, self.kept]


def open_streams(out_path: str, err_path: str, cap: int) -> tuple[Stream, Stream, int, int]:
    """The two streams of one engine, and the write ends of their pipes for the engine."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    return Stream(out_r, out_path, cap), Stream(err_r, err_path, cap), out_w, err_w


def say(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def main(argv: list[str]) -> int:
    cap, out_path, err_path, sep, *command = argv
    if sep != "--" or not command or not cap.isdigit():
        print("usage: reaper.py CAP STDOUT STDERR -- ARGV...", file=sys.stderr)
        return 2
    set_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes select(): no polling, no idle CPU
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)  # the harness ends us through stdin
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    out, err, out_w, err_w = open_streams(out_path, err_path, int(cap))
    try:
        engine = spawn(command, out_w, err_w)
    except OSError as exc:
        say(f"SPAWN_ERROR {exc}")
        return 0
    finally:
        os.close(out_w)
        os.close(err_w)
    say(f"PID {engine}")
    serve(engine, (out, err), wake_r)
    return 0


def spawn(command: list[str], out_w: int, err_w: int) -> int:
    """Start the engine as `subprocess.Popen(command, stdin=DEVNULL, stdout=out_w,
    stderr=err_w, start_new_session=True)` did, without importing subprocess (half of
    this reaper's start-up, paid on every engine invocation): a new session, stdin from
    /dev/null, SIGPIPE and SIGXFSZ back to their defaults (Popen's restore_signals),
    every other disposition and the signal mask inherited, no fd but 0-2 left open,
    PATH searched. A failed exec raises its OSError here, as Popen's did."""
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the child: nothing here may return into the reaper
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for name in os.listdir("/proc/self/fd"):  # Popen's close_fds: all but 0-2
                if int(name) > 2:
                    try:
                        os.set_inheritable(int(name), False)
                    except OSError:
                        pass  # the listing's own descriptor, closed by now
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(fail_w, str(exc.errno or 0).encode())
        finally:
            os._exit(127)
    os.close(null)
    os.close(fail_w)
    failure = b""
    while chunk := os.read(fail_r, 64):
        failure += chunk
    os.close(fail_r)
    if failure:
        os.waitpid(pid, 0)
        code = int(failure)
        raise OSError(code, os.strerror(code), command[0])
    return pid


def serve(engine: int, streams: tuple[Stream, Stream], wake_r: int) -> None:
    """Drain the streams and reap, say EXIT once the engine ends, and end the subtree
    when the harness says KILL or goes away."""
    engine_done = False
    while True:
        for pid, status in reap():
            if pid == engine and not engine_done:
                engine_done = True
                for s in streams:  # what it wrote before it exited, before we say so
                    s.drain()
                sizes = " ".join(str(n) for s in streams for n in s.sizes())
                say(f"EXIT {os.waitstatus_to_exitcode(status)} {sizes}")
        fds = [sys.stdin.fileno(), wake_r, *(s.fd for s in streams if s.fd >= 0)]
        ready, _, _ = select.select(fds, [], [], 1.0)
        for s in streams:
            if s.fd in ready:
                s.pump(1 << 20)
        if wake_r in ready:
            os.read(wake_r, 4096)
        if sys.stdin.fileno() in ready:
            line = sys.stdin.buffer.readline()
            if not line or line.strip() == b"KILL":
                end_subtree()
                for s in streams:
                    s.drain()
                    s.close()
                return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
