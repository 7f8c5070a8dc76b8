"""DockerRunner: a container for a cell, with our own init as PID 1, reused cell after cell.

A cell is a host folder laid out as `harness.layout` says, bind-mounted into a
container: ``in/`` read-only, ``work/`` (the STATE_DIRs) and ``audit/`` writable, the
probe and the init read-only under /harness, the engines' stdout and stderr files
writable under /run/io. Everything else is the candidate's image, on a read-only root
file system, plus a small private tmpfs at /tmp that goes with the container; where the
storage driver is fuse-overlayfs, the image's /usr and working folder are bind-mounted
read-only from a host copy of the same files (`harness.container.hostcopy`). The
host folder is itself a size-limited tmpfs where the harness runs as root
(`harness.cellfs`), so nothing written through the mounts can fill the host. The init
keeps the first `layout.STREAM_CAP` bytes of each engine stream, and counts the rest.

PID 1 is ``harness/sandbox/cellinit.py``. The harness talks to it over a unix socket
in a folder only the harness and the init share; the init accepts nothing else, since
the harness takes the one connection before any candidate code runs. The init
fork-execs each engine invocation, delivers signals inside the container's pid
namespace, reaps orphans, and answers which processes live: so the processes alive in
the container are the ground truth for the orphan checks.

Sandbox, by default: no network, read-only root, every capability dropped (the init
needs none: it runs as the same unprivileged user as the engine, and PID 1 may signal
its own user's processes), no-new-privileges, a non-root user, and limits on pids,
memory (no swap) and CPU. The cell's wall-clock limit is the harness's own (the
scenario driver kills the engine and judges the cell); the container keeps a backstop a
little beyond it, enforced twice: by the init inside, and by a timer outside that
removes the container. A cell that its backstop ended raises `CellLimitReached`, so it
is judged too; only the harness's or the daemon's failures are `InfraError`.

Reuse: a cell's close ends every process in it, and then resets its container for the
next cell of the same image (`DockerCell._reset`): the init empties the container's
writable places (/tmp, /dev/shm, /dev/mqueue) and removes every System V IPC object,
the harness empties the cell's folders and puts back their owner and mode and no
extended attribute (`harness.runners.recycle`), and the limit counters of the next cell
count from its arm. The init then reports what is left; a container with anything left
(or a reset that failed, or a cell its backstop ended) is never reused. Starting and
removing a container per cell cost the daemon's CPU just as each cell's engine started.

Clean-up: every container is labelled with its owner (`harness.container.client`).
A container that is not reused (or that no cell of its image follows) has its folder
removed, and is removed by the runner in a background thread (so the cell's result
does not wait for the daemon); the runner's close waits for every removal.
If the harness dies, the init sees its socket close and ends every process; the
stopped container and its folder are removed by the next run, or by `harness gc`.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors

from harness import cellfs, layout, owner, safefs
from harness.container import hostcopy, images
from harness.container.client import TRANSIENT, collect, connect, daemon_call, owner_labels
from harness.errors import CellLimitReached, HarnessError, InfraError, SpawnError
from harness.model import Candidate
from harness.observe import Cut
from harness.runners import recycle
from harness.runners.base import Cell, EngineProcess, Runner, engine_argv, read_stream, stream_cut
from harness.runners.limits import DEFAULT_LIMITS, Limits

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"
REPLY_TIMEOUT_S = 30.0
IDLE_DEADLINE_S = 3600.0  # a container started ahead that no cell ever takes
CONNECT_TIMEOUT_S = 30.0
BACKSTOP_S = 10.0  # the init's deadline lies this far beyond the harness's own limit
OUTSIDE_S = 30.0  # and the outside timer this far beyond the init's
# The container's own writable places (its root file system is read-only): a reused
# container's init empties them between cells. The cell's folders are the host's.
WIPE = ("/tmp", "/dev/shm", "/dev/mqueue")
Say = Callable[[str], None]


class DockerEngineProcess(EngineProcess):
    def __init__(self, cell: DockerCell, pid: int, out: Path, err: Path) -> None:
        self._cell = cell
        self.pid = pid
        self.started = time.monotonic()
        self._out, self._err = out, err

    def poll(self) -> int | None:
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        return self._cell.wait_exit(self.pid, timeout)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # the init signals only engines it has not reaped
            self._cell.request({"op": "signal", "pid": self.pid, "sig": int(sig)})

    def output(self) -> tuple[bytes, bytes]:
        return read_stream(self._out), read_stream(self._err)

    def cuts(self) -> tuple[Cut | None, Cut | None]:
        return self._cell.cuts.get(self.pid, (None, None))


class DockerCell(Cell):
    def __init__(self, runner: DockerRunner, candidate: Candidate, image: str, image_id: str,
                 label: str, client: docker.DockerClient | None = None) -> None:
        self._begin(runner, candidate, client)
        self.tag = image
        self.image_id = image_id
        self.base = Path(tempfile.mkdtemp(prefix=f"{owner.CELL_PREFIX}docker-")).resolve()
        self.disk = cellfs.limit(self.base, runner.limits.disk_mb)  # before anything is written
        owner.mark(self.base)
        self.root = self.base / "cell"
        self.private = self.base / "private"
        self.ctl = self.base / "ctl"
        self.python = "python3"
        self._sock: socket.socket | None = None
        self._hello = False
        self._buf = b""
        self._next_id = 0
        self.io = self.base / "io"
        try:
            for sub in layout.ENGINE_DIRS:
                (self.root / sub).mkdir(parents=True)
            for d in (self.ctl, self.io, self.private):
                d.mkdir()
            for rel in (layout.WORK, layout.AUDIT_DIR):
                self.hand_over(rel)
            self._chown(self.io)
            # what a reused container's next cell gets back (harness.runners.recycle)
            self._folders = tuple(recycle.Folder.as_now(p) for p in (
                *(self.root / sub for sub in layout.ENGINE_DIRS), self.io, self.private))
        except BaseException:
            cellfs.remove(self.base)
            raise
        self.container = self._start(runner, image, label)

    def _begin(self, runner: DockerRunner, candidate: Candidate,
               client: docker.DockerClient | None) -> None:
        """The state of one cell, all of it fresh: a cell that follows another in the same
        container (`following`) carries nothing of it but the container and its folder."""
        self.candidate = candidate
        self.engine_root = "/cell"
        self.probe = "/harness/probe.py"
        self.uid = runner.uid
        self._replies: dict[int, dict[str, Any]] = {}
        self._exits: dict[int, int] = {}
        self.cuts: dict[int, tuple[Cut | None, Cut | None]] = {}  # pid -> stdout, stderr
        # Processes the init watches by pidfd (it pushes each one's death), those it
        # reported dead, and those it could not watch (asked about every time).
        self._watched: set[tuple[int, int | None]] = set()
        self._dead: set[tuple[int, int | None]] = set()
        self._unwatched: set[tuple[int, int | None]] = set()
        self._ended = ""
        self._at_limit = False  # the backstop ended the cell: judged, not an infra error
        self._procs = 0
        self._limits = runner.limits
        self._baseline: dict[str, int] = {}  # the container's limit counters when it began
        self._client = client or runner.client  # the client of the thread that makes it
        self._discard = runner.discard
        self._keep = runner.keep if runner.reuse else None
        self._discarded = False
        self._kept = False  # its container was reset and went on to the next cell
        self.left: list[str] = []  # what the init could not reset, when it could not
        self._timer: threading.Timer | None = None

    @classmethod
    def following(cls, old: DockerCell, runner: DockerRunner, candidate: Candidate) -> DockerCell:
        """A new cell in the container of old, a closed cell whose close reset it."""
        cell = cls.__new__(cls)
        cell._begin(runner, candidate, None)
        cell.tag, cell.image_id, cell.container = old.tag, old.image_id, old.container
        cell.base, cell.disk, cell.root, cell.private = old.base, old.disk, old.root, old.private
        cell.ctl, cell.io, cell._folders = old.ctl, old.io, old._folders
        cell.python, cell._hello, cell._next_id = old.python, old._hello, old._next_id
        cell._sock, cell._buf = old._sock, old._buf
        old._sock = None  # old is closed for good: only the new cell talks to the init
        return cell

    def arm(self, candidate: Candidate, client: docker.DockerClient) -> None:
        """The cell begins, for candidate (any candidate with this image), in the thread of
        client: its backstop starts now, inside (the init) and outside (a timer that
        removes the container), a little beyond the harness's own wall-clock limit. The
        limit counters of a reused container count from here."""
        self.candidate = candidate
        self._client = client
        reply = self.request({"op": "arm", "wall_s": self._backstop_s})
        self._baseline = {k: int(v) for k, v in reply.get("limits", {}).items() if v is not None}
        self._timer = threading.Timer(self._backstop_s + OUTSIDE_S, self._outside_deadline)
        self._timer.daemon = True
        self._timer.start()

    @property
    def _backstop_s(self) -> float:
        return self._limits.wall_s + BACKSTOP_S

    # -- setup ---------------------------------------------------------------------------

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0 and self.uid != 0:
            os.chown(path, self.uid, self.uid)

    def hand_over(self, rel: str) -> None:
        # Through safefs: rel is the candidate's (a restored STATE_DIR), and a link in it,
        # or in its place, must be changed itself, never followed to a host file.
        if os.geteuid() == 0 and self.uid != 0:
            safefs.CellFiles(self.root).chown_tree(rel, self.uid, self.uid)

    def _start(self, runner: DockerRunner, image: str, label: str) -> Any:
        sock_path = self.ctl / "ctl.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dfd = os.open(self.ctl, os.O_RDONLY | os.O_DIRECTORY)
        try:  # bound through /proc/self/fd: a long TMPDIR cannot pass the 108-byte limit
            listener.bind(f"/proc/self/fd/{dfd}/ctl.sock")
        finally:
            os.close(dfd)
        os.chmod(sock_path, 0o777)  # the init runs as the sandbox user
        listener.listen(1)
        lim = self._limits
        mounts = {
            str(self.root / layout.IN): {"bind": f"/cell/{layout.IN}", "mode": "ro"},
            str(self.root / layout.WORK): {"bind": f"/cell/{layout.WORK}", "mode": "rw"},
            str(self.root / layout.AUDIT_DIR): {"bind": f"/cell/{layout.AUDIT_DIR}", "mode": "rw"},
            str(self.ctl): {"bind": "/run/harness", "mode": "ro"},  # the socket only
            str(self.io): {"bind": "/run/io", "mode": "rw"},  # engines' stdout and stderr
            str(SANDBOX): {"bind": "/harness", "mode": "ro"},
        }
        for bind in runner.copy_for(self._client, self.candidate, self.image_id):
            mounts[bind.host] = {"bind": bind.target, "mode": "ro"}
        name = f"harness-{runner.run_id}-{runner.next_cell()}"
        kwargs: dict[str, Any] = dict(
            command=["python3", "-I", "-S", "/harness/cellinit.py", "/run/harness/ctl.sock",
                     str(IDLE_DEADLINE_S)],
            name=name, detach=True, labels=owner_labels(runner.owner, self.base),
            network_mode="none", read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], user=f"{self.uid}:{self.uid}",
            pids_limit=lim.pids, mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m", nano_cpus=int(lim.cpus * 1e9),
            volumes=mounts, tmpfs={"/tmp": f"rw,nosuid,nodev,size={lim.tmpfs_mb}m,mode=1777"},
            working_dir="/", environment={"HOME": "/tmp"}, init=False, auto_remove=False,
            ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=1024)],
        )

        tries = itertools.count()

        def create() -> Any:
            if next(tries):  # a failed try may have made the container but not started it
                try:
                    self._client.api.remove_container(name, force=True)
                except docker.errors.NotFound:
                    pass
            return self._client.containers.run(image, **kwargs)

        container = None
        try:
            # safe to repeat after a timeout: each try first removes what the last one made
            container = daemon_call(f"start the container of cell {label}", create,
                                    after_timeout=True)
            listener.settimeout(CONNECT_TIMEOUT_S)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                logs = self._logs(container)
                raise InfraError(f"the init of cell {label} did not connect within"
                                 f" {CONNECT_TIMEOUT_S:.0f} s; container log: {logs}") from None
        except BaseException:  # also Ctrl-C while the container starts
            listener.close()
            if container is not None:
                try:
                    self._remove(container)
                except InfraError:
                    pass  # collected by the next run
            cellfs.remove(self.base)
            raise
        listener.close()
        sock_path.unlink()  # nothing else can ever connect
        self._sock = conn
        self.container = container
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            while not self._hello and time.monotonic() < deadline:
                self._pump(deadline - time.monotonic())
            if not self._hello:
                raise InfraError(f"the init of cell {label} connected but never said hello")
        except BaseException:
            self._close_sock("setup failed")
            self._remove(container)
            cellfs.remove(self.base)
            raise
        return container

    # -- the init protocol ---------------------------------------------------------------

    def _gone(self) -> HarnessError:
        """Why the cell can no longer be used: its backstop ended it, or it broke."""
        why = f"cell used after it ended: {self._ended or 'closed'}"
        return CellLimitReached(self._ended) if self._at_limit else InfraError(why)

    def _lost(self, what: str) -> HarnessError:
        """The connection to the init ended (EOF, reset, broken pipe): the cell's end."""
        why = self._ended or (f"the container's init went away ({what}): "
                              + (self._logs(self.container) or "no log"))
        self._close_sock(why)
        return CellLimitReached(why) if self._at_limit else InfraError(why)

    def _pump(self, timeout: float) -> None:
        """Read what the init sent within timeout; route replies and exit events."""
        if self._sock is None:
            raise self._gone()
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
            chunk = self._sock.recv(1 << 20) if ready else None
        except (OSError, ValueError) as exc:  # reset by a removed container; closed by the timer
            raise self._lost(str(exc)) from None
        if chunk is None:
            return
        if not chunk:
            raise self._lost("its socket closed")
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("event") == "exit":
                self._exits[int(msg["pid"])] = int(msg["code"])
                self.cuts[int(msg["pid"])] = (stream_cut(msg["stdout"]), stream_cut(msg["stderr"]))
            elif msg.get("event") == "death":
                pid, start = msg["proc"]
                self._dead.add((int(pid), None if start is None else int(start)))
            elif msg.get("event") == "hello":
                self.python = str(msg["python"])
                self._hello = True
            elif msg.get("event") == "deadline":
                self._at_limit = True
                self._ended = (f"the cell passed its wall-clock limit of {self._limits.wall_s:g} s"
                               f" and its container's backstop ({self._backstop_s:g} s):"
                               " the init ended every process")
            elif isinstance(msg.get("id"), int):
                self._replies[msg["id"]] = msg

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self._sock is None:
            raise self._gone()
        self._next_id += 1
        rid = self._next_id
        try:
            self._sock.sendall((json.dumps({**msg, "id": rid}) + "\n").encode())
        except (OSError, ValueError) as exc:
            raise self._lost(str(exc)) from None
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while rid not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise InfraError(f"the cell's init did not answer {msg.get('op')!r} within"
                                 f" {REPLY_TIMEOUT_S:.0f} s")
            self._pump(left)
        reply = self._replies.pop(rid)
        if not reply.get("ok"):
            kind = SpawnError if msg.get("op") == "spawn" else InfraError
            raise kind(f"the cell's init could not {msg.get('op')}: {reply.get('error')}")
        return reply

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while pid not in self._exits and not self._at_limit:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pump(left)
        if self._at_limit:  # the backstop's kill is no exit of the engine's own
            raise CellLimitReached(self._ended)
        return self._exits[pid]

    # -- the Cell interface --------------------------------------------------------------

    traces = True

    def trace_file(self, name: str) -> tuple[str, Path]:
        return f"/run/io/{name}", self.io / name

    def start(self, args: Sequence[str], wrap: Sequence[str] = ()) -> EngineProcess:
        n = self._procs
        self._procs += 1
        out, err = self.io / f"{n}.out", self.io / f"{n}.err"
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "HARNESS_CELL": "/cell"}
        reply = self.request({"op": "spawn", "argv": [*wrap, *engine_argv(self.candidate, args)],
                              "cwd": self.candidate.docker.workdir, "env": env,
                              "stdout": f"/run/io/{n}.out", "stderr": f"/run/io/{n}.err",
                              "cap": layout.STREAM_CAP})
        return DockerEngineProcess(self, int(reply["pid"]), out, err)

    def alive(self, procs: Sequence[tuple[int, int | None]]) -> set[int]:
        """The init is asked once about each process, and watches it from then on: it
        pushes its death, read here with everything else it sent. So a tick asks nothing
        of the init (a round trip through the container's Python, each 5 ms, was most of
        what the watcher cost on this runner), but for a process it could not watch."""
        if not procs:
            return set()
        self._pump(0.0)  # the deaths pushed so far
        live: set[int] = set()
        known = self._watched | self._unwatched | self._dead
        new = [p for p in procs if p not in known]
        if new:
            reply = self.request({"op": "watch", "procs": [list(p) for p in new]})
            alive, unwatched = set(reply["alive"]), set(reply["unwatched"])
            for p in new:
                if p[0] in unwatched:
                    self._unwatched.add(p)
                    live.add(p[0])  # alive now; asked again next time
                elif p[0] in alive:
                    self._watched.add(p)
                else:
                    self._dead.add(p)
        ask = [p for p in procs if p in self._unwatched and p not in new]
        if ask:
            live |= set(self.request({"op": "alive", "procs": [list(p) for p in ask]})["alive"])
        if self._at_limit:  # the backstop ended every process
            raise CellLimitReached(self._ended)
        return live | {p[0] for p in procs if p in self._watched and p not in self._dead}

    def processes(self) -> list[dict[str, Any]]:
        """Every process in the container but the init (for evidence and tests)."""
        return list(self.request({"op": "ps"})["procs"])

    def limits(self) -> dict[str, int]:
        disk = super().limits()
        if self._sock is None:
            return disk
        found = self.request({"op": "limits"})["limits"]
        since = {k: int(v) - self._baseline.get(k, 0) for k, v in found.items() if v}
        return {**disk, **{k: n for k, n in since.items() if n > 0}}

    def describe(self) -> dict[str, Any]:
        return {"runner": "docker", "image": self.image_id, "container": self.container.name,
                "disk": self.disk}

    def end_all(self) -> None:
        self.request({"op": "end"})

    def _outside_deadline(self) -> None:
        """The outside half of the backstop: the init did not end the cell."""
        self._at_limit = True
        self._ended = (f"the cell passed its wall-clock limit of {self._limits.wall_s:g} s"
                       f" and its container's backstop ({self._backstop_s + OUTSIDE_S:g} s):"
                       " the harness removed its container")
        try:
            self._remove(self.container)
        except InfraError:
            pass  # collected by the cell's close, or the next run

    def _close_sock(self, why: str) -> None:
        self._ended = self._ended or why
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        if self._kept:  # its container went on to the next cell of its image
            return
        if self._timer is not None:
            self._timer.cancel()
        ended = False
        if self._sock is not None:
            try:
                self.request({"op": "end"})
                ended = not self._at_limit
            except HarnessError:
                pass
            if ended and self._keep is not None and self._reset():
                self._kept = True
                self._keep(self)
                return
            self._close_sock("closed")
        if ended:
            # The init answered that no process but itself is left, and with its socket
            # closed it exits: nothing runs in the container, so its removal (most of a
            # cell's fixed cost) is left to the runner's background thread, and the
            # cell's folder goes now. The runner's close waits for every such removal.
            cellfs.remove(self.base)
            self._discard(self.container)
            self._discarded = True
            return
        if self._discarded:  # closed before: the runner removes its container
            return
        try:
            self._remove(self.container)
        finally:  # the cell's tmpfs goes even when the daemon keeps the container
            cellfs.remove(self.base)

    def _reset(self) -> bool:
        """Make the container and the folders fit for another cell (see `recycle`):
        whether they are. Not when the init leaves anything, or anything fails."""
        try:
            self.left = list(self.request({"op": "reset", "wipe": list(WIPE)})["left"])
            if not self.left:
                recycle.renew(self._folders)
                return True
        except (HarnessError, OSError) as exc:
            self.left = [f"reset failed: {exc}"]
        return False

    def retire(self) -> None:
        """End a kept cell's container for good: no cell of its image follows."""
        self._kept = False
        self._keep = None
        self.close()

    def _logs(self, container: Any) -> str:
        try:
            raw = self._client.api.logs(container.id, tail=20)
            return bytes(raw).decode("utf-8", "replace").strip()
        except (docker.errors.APIError, *TRANSIENT):
            return "(no log)"

    def _remove(self, container: Any) -> None:
        """Remove the container through the client of the thread that owns the cell now."""
        try:
            self._client.api.remove_container(container.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: already being removed
                raise InfraError(f"cannot remove container {container.name}: {exc.explanation}"
                                 " (harness gc removes it later)") from None
        except TRANSIENT as exc:
            raise InfraError(f"cannot remove container {container.name}: {exc}"
                             " (harness gc removes it later)") from None


class DockerRunner(Runner):
    """Opens Docker cells; with reuse, runs one cell after another in the same container.

    Starting a container is most of a cell's fixed cost (about 0.3 s here), and removing
    one most of the rest; done in the background while a cell runs, the daemon's work
    still took the CPU the cell's engine needed as it started (issue 16 item 5). So with
    reuse (the default) a closed cell's container is reset (`DockerCell._reset`: every
    process ended, its writable places emptied, every IPC object removed, the cell's
    folders put back as they were made) and the next cell of the same image goes on in
    it; a container whose init reports anything left over is removed instead. Without
    reuse, while a cell runs, the next cell's container starts ahead in a background
    thread, with its own daemon client. Either way a container holds no candidate state
    when a cell takes it, and is armed (its wall-clock limit starts) only then."""

    name = "docker"

    def __init__(self, client: docker.DockerClient, say: Say, limits: Limits = DEFAULT_LIMITS,
                 ahead: bool = True, reuse: bool = True, copies: bool | None = None) -> None:
        self.client = client
        self.say = say
        self.limits = limits
        self.owner = owner.me()
        self.run_id = os.urandom(4).hex()
        self.uid = os.getuid() if os.getuid() != 0 else images.SANDBOX_UID
        self._count = itertools.count(1)
        self._images: dict[Path, tuple[str, str]] = {}
        self._ahead = ahead
        self.reuse = reuse
        self._warm: DockerCell | None = None  # a closed cell whose container was reset
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[str, Future[DockerCell]] | None = None
        self._remover: ThreadPoolExecutor | None = None
        self._remover_client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        # Host copies of images' /usr and working folder (harness.container.hostcopy):
        # None asks the daemon whether they pay here.
        self.copies = hostcopy.wanted(client) if copies is None else copies
        self._copies: dict[tuple[str, str], hostcopy.Copy] = {}
        gone = collect(client)
        owner.sweep()
        if gone.removed:
            say(f"removed {len(gone.removed)} container(s) left by harness runs that were killed")
        self.base_id = images.bootstrap(client, say)

    def next_cell(self) -> int:
        return next(self._count)

    def copy_for(self, client: docker.DockerClient, candidate: Candidate,
                 image_id: str) -> tuple[hostcopy.Bind, ...]:
        """The host copy's folders to bind into a cell of candidate, whose image is
        image_id (none without copies, or where a copy was refused, which is said once)."""
        if not self.copies:
            return ()
        key = (image_id, candidate.docker.workdir)
        with self._lock:  # cells are made in this thread and in the ahead thread
            if key not in self._copies:
                try:
                    self._copies[key] = hostcopy.for_candidate(client, candidate, image_id)
                except OSError as exc:
                    self._copies[key] = hostcopy.Copy((), f"cannot make it: {exc}")
                if why := self._copies[key].refused:
                    self.say(f"image {image_id[7:19]} is read through the storage driver,"
                             f" with no host copy: {why}")
            return self._copies[key].binds

    def image_for(self, candidate: Candidate) -> tuple[str, str]:
        if candidate.path not in self._images:
            self._images[candidate.path] = images.candidate_image(self.client, candidate,
                                                                  self.base_id, self.say)
        return self._images[candidate.path]

    def _new_cell(self, candidate: Candidate, tag: str, image_id: str, label: str,
                  client: docker.DockerClient | None = None) -> DockerCell:
        try:
            return DockerCell(self, candidate, tag, image_id, label, client)
        except OSError as exc:
            raise InfraError(f"cannot set up the cell {label}: {exc}") from None

    def _take_ahead(self, tag: str) -> DockerCell | None:
        """The container started ahead for tag, if there is one and it started well."""
        if self._next is None:
            return None
        ahead_tag, fut = self._next
        self._next = None
        try:
            cell = fut.result()
        except (InfraError, OSError):
            return None  # a failure ahead of time is retried in the open, where it counts
        if ahead_tag == tag:
            return cell
        cell.retire()
        return None

    def keep(self, cell: DockerCell) -> None:
        """A closed cell whose container was reset: the next cell of its image follows in it."""
        old, self._warm = self._warm, cell
        if old is not None:
            old.retire()

    def _take_warm(self, tag: str, candidate: Candidate) -> DockerCell | None:
        warm, self._warm = self._warm, None
        if warm is None:
            return None
        if warm.tag == tag:
            return DockerCell.following(warm, self, candidate)
        warm.retire()
        return None

    def _start_ahead(self, candidate: Candidate, tag: str, image_id: str) -> None:
        if not self._ahead:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-ahead")
            # a docker-py client is not made to be shared between threads
            self._ahead_client = connect(timeout=self.client.api.timeout)
        self._next = (tag, self._pool.submit(self._new_cell, candidate, tag, image_id, "ahead",
                                             self._ahead_client))

    def discard(self, container: Any) -> None:
        """Remove the container of a closed cell (nothing runs in it any more) in a
        background thread, with its own daemon client: the cell's result need not wait.
        A removal that fails is left to the next run's collection, as a failed removal
        in a cell's close is; one still pending when the harness is killed, too."""
        with self._lock:  # cells close in this thread, and in the ahead thread
            if self._remover is None:
                self._remover = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="harness-remove")
            self._remover.submit(self._remove, container.id, container.name)

    def _remove(self, cid: str, name: str) -> None:
        try:
            if self._remover_client is None:  # made in the remover's own thread
                self._remover_client = connect(timeout=self.client.api.timeout)
            self._remover_client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, HarnessError, *TRANSIENT) as exc:
            self.say(f"cannot remove container {name} now ({exc}); the next run collects it")

    def open_cell(self, candidate: Candidate, label: str) -> Cell:
        tag, image_id = self.image_for(candidate)
        warm = self._take_warm(tag, candidate)
        if warm is not None:
            try:
                warm.arm(candidate, self.client)
                return warm
            except InfraError:  # its init went away (say, idle past its deadline): a new one
                warm.retire()
        cell = self._take_ahead(tag) or self._new_cell(candidate, tag, image_id, label)
        try:
            cell.arm(candidate, self.client)
        except InfraError:
            cell.retire()
            raise
        if not self.reuse:
            self._start_ahead(candidate, tag, image_id)
        return cell

    def close(self) -> None:
        warm, self._warm = self._warm, None
        if warm is not None:
            warm.retire()
        if self._next is not None:
            _, fut = self._next
            self._next = None
            try:
                fut.result().retire()
            except (InfraError, OSError):
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            remover, self._remover = self._remover, None
        if remover is not None:  # every closed cell's container is gone when this returns
            remover.shutdown(wait=True)
        if self._remover_client is not None:
            self._remover_client.close()
            self._remover_client = None

    def describe(self) -> dict[str, str]:
        return {"runner": self.name, "base_image": images.BASE_IMAGE, "base_image_id": self.base_id}
