"""cellinit: PID 1 of a Docker cell. It starts engines, signals them, and answers for them.

Usage: ``python3 cellinit.py SOCKET IDLE_DEADLINE_S``

It connects to the harness's unix socket SOCKET (in a folder the harness bind-mounts),
says hello (its interpreter's absolute path, for the probe steps), and then serves one
JSON object per line. Requests carry an ``id`` and get a reply
with the same id; engine exits are pushed as ``{"event": "exit", "pid", "code", "stdout",
"stderr"}``, the last two ``[bytes written, bytes kept]``.

- ``spawn``: fork and exec ``argv`` in ``cwd`` with ``env``, in a new session at
  ``oom_score_adj`` 1000 (so the cell's OOM kills engines, not the init), stdout
  and stderr to pipes that the init drains: the first ``cap`` bytes of each go to the
  named files, the rest is counted and dropped, so a flooding engine never blocks and
  never fills anything. Before an engine's exit event, the init reads everything it
  left in its pipes; a process that keeps them open is drained until the cell ends.
  Replies with the pid.
- ``signal``: deliver ``sig`` to an engine pid that has not been reaped yet.
- ``alive``: which of ``procs`` ([pid, starttime] pairs) still run; zombies are dead.
- ``watch``: the same answer, and each of ``procs`` that still runs is watched through
  a pidfd: its end (zombie or gone) is pushed as ``{"event": "death", "proc": [pid,
  starttime]}``, so the harness need not ask again each tick. Those it could not watch
  (no pidfd_open, or no descriptor left) are listed in ``unwatched``: ask ``alive``.
- ``ps``: every process in the container but this one.
- ``end``: freeze then kill every process but this one, until none is left.
- ``limits``: how often the cgroup's memory and pids limits were hit (v1 and v2).
- ``arm``: the cell begins: its wall-clock limit ``wall_s`` starts now. Until then (a
  container started ahead, waiting for its cell) IDLE_DEADLINE_S applies. Replies with
  the limit counters as they stand, which the cell's own counts are taken from.
- ``reset``: make the container fit for another cell of the same image: end every
  process, empty the folders in ``wipe`` (the container's own writable places: /tmp,
  /dev/shm, /dev/mqueue), remove every System V IPC object, forget every engine and
  watch, and go back to IDLE_DEADLINE_S. Replies with ``left``: whatever is still
  there (a process, an entry in a wiped folder, an IPC object); the harness reuses the
  container only when nothing is.

Being PID 1 of the container's pid namespace, it reaps every orphan, so the processes
alive in the container are exactly the cell's, and the kernel ignores signals that
processes inside send it. It makes itself non-dumpable so the candidate, which runs
as the same user, cannot ptrace it. When the harness goes away (the socket closes) or
DEADLINE_S passes, it ends every process and exits, and the container stops.

Standard library only: it runs inside the candidate's image.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.sandbox.reaper import Stream, freeze_and_kill, open_streams, stat_fields
else:  # in the container only /harness is there: import the reaper beside us
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves it out
    from reaper import Stream, freeze_and_kill, open_streams, stat_fields

PR_SET_DUMPABLE = 4
IPC_RMID = 0
SYSV_IPC = ("shm", "sem", "msg")  # /proc/sysvipc/*: the id is each row's second field
# Processes watched by pidfd at most: the rest of the 1024 descriptors stay for engines'
# pipes, however many processes a candidate's audit names (beyond it: asked each time).
MAX_WATCHED = 256


class OomScore:
    """This init's ``oom_score_adj``, held open so engines can be forked at 1000.

    The memory cgroup's OOM killer kills the task with the highest badness: RSS plus
    ``oom_score_adj`` scaled to the limit. An engine at 1000 outranks the init at its own
    value whatever their sizes, so a candidate that exhausts the cell's memory is killed
    itself (a judged -9), never the init (which would end the cell as an infrastructure
    error). Children inherit the value at fork, so the init raises its own score for the
    fork and puts it back after. A non-dumpable process cannot open its /proc files, and
    an unprivileged one cannot lower its score below the one it started with, so the file
    is opened before the init makes itself non-dumpable, and only ever returned to that.
    """

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open("/proc/self/oom_score_adj", os.O_RDWR | os.O_CLOEXEC)
            self.own = os.pread(self.fd, 16, 0).strip() or b"0"
        except OSError:
            self.fd, self.own = None, b"0"

    def set(self, value: bytes) -> None:
        if self.fd is not None:
            try:
                os.pwrite(self.fd, value, 0)
            except OSError:
                pass


def others() -> list[int]:
    me = os.getpid()
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) != me]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def read_int(path: str, key: str | None = None) -> int | None:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    if key is None:
        return int(text.strip())
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return None


def limits() -> dict[str, int]:
    """Counters of limit hits, from cgroup v1 or v2 files mounted for this container."""
    found: dict[str, int] = {}
    for name, path, key in (
        ("memory_oom_kills", "/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
        ("memory_oom_kills", "/sys/fs/cgroup/memory.events", "oom_kill"),
        ("memory_limit_hits", "/sys/fs/cgroup/memory/memory.failcnt", None),
        ("memory_limit_hits", "/sys/fs/cgroup/memory.events", "max"),
        ("pids_limit_hits", "/sys/fs/cgroup/pids/pids.events", "max"),
        ("pids_limit_hits", "/sys/fs/cgroup/pids.events", "max"),
    ):
        value = read_int(path, key)
        if value is not None and name not in found:
            found[name] = value
    return found


def sysv_ids(kind: str) -> list[int]:
    """The ids of the System V IPC objects of kind (shm, sem, msg) in this namespace."""
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return []
    return [int(row.split()[1]) for row in rows if row.strip()]


def remove_sysv_ipc() -> None:
    """IPC_RMID every System V object: they outlive the processes that made them. Each is
    the sandbox user's (no other user runs here), so the init may remove it."""
    libc = ctypes.CDLL(None, use_errno=True)
    for ident in sysv_ids("shm"):
        libc.shmctl(ident, IPC_RMID, None)
    for ident in sysv_ids("sem"):
        libc.semctl(ident, 0, IPC_RMID)
    for ident in sysv_ids("msg"):
        libc.msgctl(ident, IPC_RMID, None)


def remove_entry(path: str) -> None:
    """Remove path, whatever it is, without following a link. A folder the candidate
    made unreadable is its own user's, which is ours: it is opened up first."""
    try:
        os.unlink(path)
        return
    except FileNotFoundError:
        return
    except (IsADirectoryError, PermissionError):
        if not os.path.isdir(path) or os.path.islink(path):
            raise
    os.chmod(path, 0o700)
    for name in os.listdir(path):
        remove_entry(os.path.join(path, name))
    os.rmdir(path)


def wipe(folders: list[str]) -> list[str]:
    """Empty each folder; what could not be removed, as "folder/name: why"."""
    left = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            try:
                remove_entry(os.path.join(folder, name))
            except (OSError, RecursionError) as exc:
                left.append(f"{folder}/{name}: {type(exc).__name__}: {exc}")
    return left


class Init:
    def __init__(self, sock: socket.socket, deadline: float, oom: OomScore,
                 idle_s: float = 3600.0) -> None:
        self.sock = sock
        self.oom = oom
        self.deadline = deadline
        self.idle_s = idle_s
        self.engines: dict[int, tuple[Stream, Stream]] = {}  # spawned, not yet reaped
        self.streams: list[Stream] = []  # pipes some process may still write to
        self.inbuf = b""
        self.watched: dict[int, list[Any]] = {}  # pidfd -> [pid, starttime] it watches

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the harness is gone; the main loop notices EOF and ends everything

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.engines:
                out, err = self.engines.pop(pid)
                out.drain()  # what it wrote before it exited, before we say so
                err.drain()
                self.send({"event": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status),
                           "stdout": out.sizes(), "stderr": err.sizes()})

    def pump(self, ready: list[int]) -> None:
        for s in self.streams:
            if s.fd >= 0 and s.fd in ready:
                s.pump(1 << 20)

    def end_all(self) -> int:
        """SIGSTOP then SIGKILL every other process until none is left; how many there were."""
        ended = freeze_and_kill(
            lambda: [p for p in others() if (f := stat_fields(p)) is not None and f[0] not in "ZX"],
            self.reap)
        for s in self.streams:  # no writer is left: take what they wrote last
            s.drain()
            s.close()
        self.streams = []
        return ended

    def reset(self, folders: list[str]) -> list[str]:
        """Leave nothing of the cell that ends (see ``reset`` above); what is left."""
        self.end_all()
        for fd in self.watched:
            os.close(fd)
        self.watched = {}
        self.engines = {}
        remove_sysv_ipc()
        left = wipe(folders)
        left += [f"process {pid}" for pid in others()
                 if (f := stat_fields(pid)) is not None and f[0] not in "ZX"]
        left += [f"{kind} {ident}" for kind in SYSV_IPC for ident in sysv_ids(kind)]
        left += [f"{folder}/{name}" for folder in folders if os.path.isdir(folder)
                 for name in os.listdir(folder)]
        self.deadline = time.monotonic() + self.idle_s
        return sorted(set(left))

    def spawn(self, req: dict[str, Any]) -> dict[str, Any]:
        out_s, err_s, out, err = open_streams(req["stdout"], req["stderr"], int(req["cap"]))
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.oom.set(b"1000")  # the child inherits it
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # the init (or a failed fork): back to its own score
                self.oom.set(self.oom.own)
        if pid == 0:  # the child: a new session, then exec; report exec failure on err_w
            try:
                os.setsid()
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(err, 2)
                os.chdir(req["cwd"])
                os.execvpe(req["argv"][0], req["argv"], req["env"])
            except BaseException as exc:  # noqa: BLE001 - anything here must reach the parent
                os.write(err_w, f"{type(exc).__name__}: {exc}".encode()[:4000])
            os._exit(127)
        for fd in (out, err, null, err_w):
            os.close(fd)
        failure = b""
        while chunk := os.read(err_r, 4096):
            failure += chunk
        os.close(err_r)
        if failure:
            os.waitpid(pid, 0)
            out_s.close()
            err_s.close()
            return {"ok": False, "error": failure.decode("utf-8", "replace")}
        self.engines[pid] = (out_s, err_s)
        self.streams += [out_s, err_s]
        return {"ok": True, "pid": pid}

    @staticmethod
    def runs(pid: int, start: int | None) -> bool:
        f = stat_fields(pid)
        return f is not None and f[0] not in "ZX" and (start is None or int(f[19]) == start)

    def watch(self, procs: list[list[Any]]) -> dict[str, Any]:
        """Which of procs run, each watched by a pidfd opened while it is known to be the
        same process (checked again after the open: a pid reused in between is dead)."""
        live, unwatched = [], []
        for pid, start in procs:
            if not self.runs(int(pid), start):
                continue
            try:
                if len(self.watched) >= MAX_WATCHED:
                    raise OSError("enough watched")
                fd = os.pidfd_open(int(pid))
            except ProcessLookupError:
                continue
            except (OSError, AttributeError):  # no pidfd_open here, or no fd left
                live.append(pid)
                unwatched.append(pid)
                continue
            if self.runs(int(pid), start):
                self.watched[fd] = [pid, start]
                live.append(pid)
            else:
                os.close(fd)
        return {"ok": True, "alive": live, "unwatched": unwatched}

    def deaths(self, ready: list[int]) -> None:
        for fd in [fd for fd in self.watched if fd in ready]:
            self.send({"event": "death", "proc": self.watched.pop(fd)})
            os.close(fd)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "spawn":
            return self.spawn(req)
        if op == "signal":
            pid = int(req["pid"])
            if pid in self.engines:
                try:
                    os.kill(pid, int(req["sig"]))
                except ProcessLookupError:
                    pass
            return {"ok": True}
        if op == "alive":
            live = []
            for pid, start in req["procs"]:
                f = stat_fields(int(pid))
                if f is not None and f[0] not in "ZX" and (start is None or int(f[19]) == start):
                    live.append(pid)
            return {"ok": True, "alive": live}
        if op == "watch":
            return self.watch(req["procs"])
        if op == "ps":
            procs = []
            for pid in others():
                f = stat_fields(pid)
                if f is not None and f[0] not in "ZX":
                    procs.append({"pid": pid, "ppid": int(f[1]), "pgid": int(f[2]),
                                  "state": f[0], "cmdline": cmdline(pid)})
            return {"ok": True, "procs": procs}
        if op == "end":
            return {"ok": True, "ended": self.end_all()}
        if op == "limits":
            return {"ok": True, "limits": limits()}
        if op == "arm":
            self.deadline = time.monotonic() + float(req["wall_s"])
            return {"ok": True, "limits": limits()}
        if op == "reset":
            return {"ok": True, "left": self.reset([str(f) for f in req["wipe"]])}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def serve(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes select(): no polling
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.send({"event": "hello", "python": sys.executable, "uid": os.getuid()})
        while True:
            self.reap()
            left = self.deadline - time.monotonic()
            if left <= 0:
                print("cellinit: the cell's wall-clock limit passed; ending it", file=sys.stderr)
                self.send({"event": "deadline"})
                self.end_all()
                return 124
            self.streams = [s for s in self.streams if s.fd >= 0]  # the rest reached EOF
            fds = [self.sock.fileno(), wake_r, *(s.fd for s in self.streams), *self.watched]
            ready, _, _ = select.select(fds, [], [], min(left, 5.0))
            self.pump(ready)
            self.deaths(ready)
            if wake_r in ready:
                os.read(wake_r, 4096)
            if self.sock.fileno() in ready:
                chunk = self.sock.recv(65536)
                if not chunk:  # the harness is gone: leave nothing behind
                    self.end_all()
                    return 0
                self.inbuf += chunk
                while b"\n" in self.inbuf:
                    line, self.inbuf = self.inbuf.split(b"\n", 1)
                    req: dict[str, Any] = {}
                    try:
                        req = json.loads(line)
                        reply = self.handle(req)
                    except Exception as exc:  # noqa: BLE001 - a bad request must not kill PID 1
                        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                    self.send({"id": req.get("id"), **reply})


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: cellinit.py SOCKET IDLE_DEADLINE_S", file=sys.stderr)
        return 2
    oom = OomScore()  # before the prctl: a non-dumpable process cannot open it
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    idle_s = float(argv[1])
    deadline = time.monotonic() + idle_s
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(2000):  # the harness listens before it starts us; allow a slow start
        try:
            sock.connect(argv[0])
            break
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.005)
    else:
        print(f"cellinit: cannot connect to {argv[0]}", file=sys.stderr)
        return 3
    return Init(sock, deadline, oom, idle_s).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
