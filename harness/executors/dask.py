"""The Dask executor (`--executor dask`): cells as tasks on a Dask `distributed` cluster.

Without a scheduler address it starts a `LocalCluster` of process workers, one thread
each; with `tcp://HOST:PORT` it uses a cluster that is already running (`dask
scheduler` and `dask worker` on other hosts, or dask-jobqueue's SLURMCluster).

Properties kept on purpose:
- Each worker process keeps a runner of its own, per thread, made on its first cell
  from the picklable `RunnerSpec` (Docker on that worker's own daemon, or local) and
  closed by a worker plugin's teardown: when the worker ends, or when the client
  unregisters the plugin as it closes.
- Workers need no shared file system: a candidate's merged file tree travels as a
  gzipped tar bundle, once per content digest, as a task keyed by that digest (a task,
  not scattered data, so that a bundle held only by a worker that died is made again
  rather than lost). The worker unpacks it into its cache, `$XDG_CACHE_HOME/harness/
  candidates/DIGEST` (unpacked aside, checked, then renamed into place), checks the
  tree's digest against the key before every cell, and runs the candidate from there.
- Results come back as tasks finish (`as_completed`), so the client's store commits
  each one as it arrives.
- A worker that dies mid-cell: the scheduler runs the task again on another worker
  (`allowed-failures`, set to 1 on a LocalCluster this executor starts); a cell that
  still cannot finish, or any failure of the task itself (a worker without harness, or
  with another version of it), is `broken`: infra_error, never the candidate's failure.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import queue
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask
from distributed import Client, Future, LocalCluster, as_completed, get_worker
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.comm.core import connect as comm_connect
from distributed.diagnostics.plugin import WorkerPlugin

from harness import __version__, cachedir
from harness.cells import CellSpec, content_digest
from harness.errors import HarnessError, InfraError, UsageError
from harness.executors.base import Executor, RunnerSpec, Say, Started, _quiet, broken, execute
from harness.executors.pool import collect_leftovers
from harness.model import Candidate, CellResult
from harness.runners.base import Runner
from harness.tree import candidate_files

CONNECT_S = 5.0  # how long a scheduler given with --scheduler has to answer
PLUGIN = "harness-runners"
STARTED = "harness-cell-started"  # the event topic a worker logs a cell's start on
POLL_S = 0.1

_runners: dict[tuple[int, RunnerSpec], Runner] = {}  # this worker process's, per thread
_runners_lock = threading.Lock()


# ---------------------------------------------------------------- the candidate's bundle

def pack(c: Candidate) -> bytes:
    """The candidate's merged tree as a gzipped tar: names, exec bits, bytes, link targets."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, path in candidate_files(c):
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def cache_root() -> Path:
    return cachedir.root() / "candidates"


def unpacked(c: Candidate, digest: str, bundle: bytes) -> Candidate:
    """c, its files in this machine's cache under digest (unpacked there if need be)."""
    final = cache_root() / digest
    here = replace(c, path=final, extends=())
    if final.is_dir() and content_digest(here) == digest:
        return here
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=final.parent))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise InfraError(f"cannot unpack the files of candidate {c.name}: {exc}") from exc
        got = content_digest(replace(c, path=tmp, extends=()))
        if got != digest:
            raise InfraError(f"the files of candidate {c.name} arrived with digest {got[:12]},"
                             f" not {digest[:12]}: they changed during the run")
        shutil.rmtree(final, ignore_errors=True)  # a copy that no longer matches its digest
        try:
            os.rename(tmp, final)
        except OSError:  # another worker put the same tree there first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if content_digest(here) != digest:
        raise InfraError(f"the cached files of candidate {c.name} at {final} do not match"
                         f" their digest {digest[:12]}")
    return here


def _hold(bundle: bytes) -> bytes:
    """The task that carries a bundle: the scheduler keeps it, so it can be made again."""
    return bundle


# ---------------------------------------------------------------- on the worker

def _runner(spec: RunnerSpec) -> Runner:
    key = (threading.get_ident(), spec)
    with _runners_lock:
        if key not in _runners:
            _runners[key] = spec.open()
        return _runners[key]


def close_runners() -> None:
    """Close every runner this worker process made."""
    with _runners_lock:
        runners = list(_runners.values())
        _runners.clear()
    for r in runners:
        try:
            r.close()
        except HarnessError:
            pass  # what it could not release is collected by the next run


class RunnerCloser(WorkerPlugin):
    """Closes the worker's runners when the worker ends or the plugin is unregistered."""

    def teardown(self, worker: Any) -> None:
        close_runners()


def _worker_label() -> str:
    try:
        w = get_worker()
    except ValueError:
        return "dask"
    return str(w.name if w.name is not None else w.address)


def _cell_task(spec: CellSpec, bundle: bytes, runner: RunnerSpec, wall_s: float, version: str,
               tag: str) -> CellResult:
    """One cell on this worker: never raises, a failure of the harness is `broken`."""
    label = _worker_label()
    t0 = time.monotonic()
    try:
        get_worker().log_event(STARTED, {"tag": tag, "worker": label})
    except ValueError:
        pass  # not on a worker (called directly): nobody to tell
    if version != __version__:
        return broken(spec, f"Dask worker {label} runs harness {__version__}, the client"
                            f" {version}: install the same harness on every worker")
    try:
        candidate = unpacked(spec.candidate, spec.key.candidate, bundle)
        return execute(_runner(runner), replace(spec, candidate=candidate), wall_s)
    except HarnessError as exc:
        return broken(spec, f"Dask worker {label} could not run the cell: {exc}",
                      time.monotonic() - t0)
    except Exception as exc:  # a harness bug on the worker: never the candidate's failure
        return broken(spec, f"harness error on Dask worker {label}: {type(exc).__name__}: {exc}",
                      time.monotonic() - t0)


# ---------------------------------------------------------------- on the client

async def _identity(address: str) -> dict[str, Any]:
    comm = await comm_connect(address, timeout=CONNECT_S)
    try:
        await comm.write({"op": "identity", "reply": True})
        answer: dict[str, Any] = await asyncio.wait_for(comm.read(), CONNECT_S)
        return answer
    finally:
        await comm.close()


def connect(address: str) -> Client:
    """A client of the scheduler at address, or a UsageError if none answers in time.

    The address is asked who it is before a Client is made: a Client that fails to
    connect lingers, and at exit tries for seconds to close itself, with a traceback."""
    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):  # refused at once, where a Dask connect retries
            socket.create_connection(parse_host_port(loc), timeout=CONNECT_S).close()
        kind = asyncio.run(_identity(address)).get("type")
    except (OSError, TimeoutError, ValueError) as exc:  # refused, timed out, malformed
        raise UsageError(f"--scheduler {address}: no Dask scheduler answers there within"
                         f" {CONNECT_S:.0f} s ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # something answers, but not in Dask's protocol
        raise UsageError(f"--scheduler {address}: what answers there is not a Dask"
                         f" scheduler ({type(exc).__name__})") from None
    if kind != "Scheduler":
        raise UsageError(f"--scheduler {address}: that is a Dask {kind}, not a scheduler")
    return Client(address, timeout=CONNECT_S, set_as_default=False)


class DaskExecutor(Executor):
    """Cells as tasks on a Dask cluster: a LocalCluster it starts, or one it connects to."""

    name = "dask"

    def __init__(self, runner: RunnerSpec, wall_s: float, scheduler: str | None = None,
                 workers: int = 2, say: Say = _quiet) -> None:
        if workers < 1:
            raise UsageError(f"--jobs {workers}: give 1 or more Dask workers")
        self.runner = runner
        self.wall_s = wall_s
        self._say = say
        self.scheduler = scheduler
        self.cluster: LocalCluster | None = None
        if scheduler is None:
            with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
            self.workers = workers
        else:
            self.client = connect(scheduler)
            threads = sum(w.get("nthreads", 1)
                          for w in self.client.scheduler_info()["workers"].values())
            if not threads:
                say(f"the Dask scheduler at {scheduler} has no workers yet: cells wait for one")
            self.workers = max(1, threads)
        try:
            self.client.register_plugin(RunnerCloser(), name=PLUGIN)
        except Exception as exc:
            self.close()
            raise InfraError(f"the Dask workers cannot load harness {__version__} ({exc}):"
                             " install it on every worker") from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scheduler": self.scheduler or "LocalCluster"}

    def run(self, specs: Sequence[CellSpec], started: Started | None = None) -> Iterator[CellResult]:
        starts: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.client.subscribe_topic(STARTED, lambda event: starts.put(
            (event[1]["tag"], event[1]["worker"])))
        bundles: dict[str, Future[bytes]] = {}
        by_tag: dict[str, CellSpec] = {}
        pending: dict[Future[CellResult], CellSpec] = {}
        run_id = uuid.uuid4().hex[:12]
        try:
            for n, spec in enumerate(specs):
                digest = spec.key.candidate
                if digest not in bundles:
                    bundles[digest] = self.client.submit(
                        _hold, pack(spec.candidate), key=f"harness-candidate-{digest}", pure=False)
                tag = f"harness-cell-{run_id}-{n}"
                by_tag[tag] = spec
                fut = self.client.submit(_cell_task, spec, bundles[digest], self.runner,
                                         self.wall_s, __version__, tag, key=tag, pure=False,
                                         retries=0)
                pending[fut] = spec
            done = as_completed(list(pending), loop=self.client.loop)
            while pending:
                while not starts.empty():
                    tag, label = starts.get()
                    if started and tag in by_tag:
                        started(by_tag[tag], label)
                if not done.has_ready():
                    time.sleep(POLL_S)
                    continue
                for fut in done.next_batch(block=False):
                    yield self._result(fut, pending.pop(fut))
        finally:
            self._cancel([*pending, *bundles.values()])
            try:
                self.client.unsubscribe_topic(STARTED)
            except Exception:
                pass  # the client is already closing

    def _result(self, fut: Future[CellResult], spec: CellSpec) -> CellResult:
        try:
            result: CellResult = fut.result()
            return result
        except Exception as exc:  # KilledWorker, a lost or cancelled task, a broken worker
            why = (f"the cell's Dask task did not finish: {type(exc).__name__}: {exc}"
                   if str(exc) else f"the cell's Dask task did not finish: {type(exc).__name__}")
            return broken(spec, why)
        finally:
            fut.release()

    def _cancel(self, futures: Sequence[Future[Any]]) -> None:
        """Forget the run's tasks; one already running finishes and closes its cell."""
        if futures:
            try:
                self.client.cancel(list(futures))
            except Exception:
                pass  # the client is already closing

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        if client is None:
            return
        self.client, self.cluster = None, None  # type: ignore[assignment]
        try:
            client.unregister_worker_plugin(PLUGIN)  # closes every worker's runners
        except Exception:
            pass  # not registered, or the cluster is gone
        client.close()
        if cluster is not None:
            cluster.close()
            collect_leftovers(self.runner, self._say)  # of workers killed mid-cell
