"""The Docker daemon as the harness uses it: connecting, retrying, labelling, collecting.

Every daemon failure becomes an `InfraError` (or `RunnerUnavailableError` when no
daemon answers at all) with a message that says what the daemon did, so a dead or
hanging daemon is never mistaken for a candidate's failure. Calls that are safe to
repeat are retried a few times. Time is bounded: each call has its own timeout
(API_TIMEOUT_S; builds and imports stream and have none), a call that timed out is
retried only where repeating it is safe whatever the first try did, and no retry
starts after CALL_BUDGET_S, so a daemon that answers ping but hangs on everything else
fails the run within one call's timeout instead of attempts x timeout.

Every container the harness starts carries the labels from `owner_labels`: which
harness process owns it (pid and start time, so a reused pid is not mistaken for the
owner) and which host folder belongs to it. `collect` removes the containers and
folders of owners that are gone; `harness gc` and every Docker run call it first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors
import requests.exceptions

from harness import cellfs
from harness.errors import InfraError, RunnerUnavailableError
from harness.owner import CELL_PREFIX, Owner

T = TypeVar("T")
MANAGED = "harness.managed"
API_TIMEOUT_S = 20  # one call (list, inspect, create, remove); a daemon this slow is hung
CALL_BUDGET_S = 30.0  # no retry of one daemon_call starts later than this

# Failures of the daemon or the connection to it, as opposed to a refusal of our request.
TRANSIENT: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
    TimeoutError,
)
# Of those, the ones where the daemon may have done the work without saying so.
TIMEOUTS: tuple[type[BaseException], ...] = (requests.exceptions.Timeout, TimeoutError)


def connect(timeout: float = API_TIMEOUT_S, ping_timeout: float = 10) -> docker.DockerClient:
    """A client whose daemon answered a ping, or RunnerUnavailableError saying why not.

    The ping has its own short timeout, so a hanging daemon is found out in seconds."""
    try:
        client = docker.from_env(timeout=int(ping_timeout))
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise RunnerUnavailableError(f"no Docker daemon answers: {exc}") from None
    client.api.timeout = timeout
    return client


def _give_up(attempt: int, attempts: int, t0: float, budget_s: float) -> bool:
    return attempt >= attempts or time.monotonic() - t0 + 0.5 * attempt >= budget_s


def daemon_call(what: str, fn: Callable[[], T], *, attempts: int = 3,
                after_timeout: bool = False, budget_s: float = CALL_BUDGET_S) -> T:
    """fn(), retried on daemon or connection failures (only for calls safe to repeat).

    A timed-out call is retried only with after_timeout (repeating it is safe even if
    the daemon did the first one: fn cleans up first, or only reads); no retry starts
    once budget_s has passed since the first try."""
    t0 = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except docker.errors.APIError as exc:
            if not exc.is_server_error() or _give_up(attempt, attempts, t0, budget_s):
                raise InfraError(f"Docker daemon refused to {what}: {exc.explanation or exc}") from None
        except TIMEOUTS as exc:
            if not after_timeout or _give_up(attempt, attempts, t0, budget_s):
                raise InfraError(f"Docker daemon did not answer within"
                                 f" {time.monotonic() - t0:.0f} s while trying to {what}"
                                 f" ({attempt} attempt(s)): {exc}") from None
        except TRANSIENT as exc:
            if _give_up(attempt, attempts, t0, budget_s):
                raise InfraError(f"Docker daemon did not answer while trying to {what}"
                                 f" ({attempt} attempt(s)): {exc}") from None
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def owner_labels(owner: Owner, cell_dir: Path) -> dict[str, str]:
    return {MANAGED: "1", "harness.owner.host": owner.host, "harness.owner.pid": str(owner.pid),
            "harness.owner.start": str(owner.start), "harness.cell_dir": str(cell_dir)}


def owner_of(labels: dict[str, str]) -> Owner | None:
    return Owner.parse(" ".join(labels.get(f"harness.owner.{k}", "") for k in ("host", "pid", "start")))


@dataclass(frozen=True, slots=True)
class Listed:
    """A container as the daemon's list call shows it (no per-container inspect)."""
    id: str
    name: str
    state: str
    labels: dict[str, str]


def list_labelled(client: docker.DockerClient, label: str) -> list[Listed]:
    """Containers (running or not) that carry label ("key" or "key=value").

    One list call and no inspect: `client.containers.list` inspects each container it
    lists, and fails with NotFound when one is removed in between (by another harness
    run, or by the run that owns it), which is an ordinary event here."""
    rows = daemon_call("list containers", lambda: client.api.containers(
        all=True, filters={"label": label}))
    return [Listed(r["Id"], (r.get("Names") or ["/?"])[0].lstrip("/"), r.get("State", ""),
                   r.get("Labels") or {}) for r in rows]


@dataclass(frozen=True, slots=True)
class Collected:
    removed: tuple[str, ...]
    kept: tuple[str, ...]  # owned by a harness that still runs


def collect(client: docker.DockerClient, *, everything: bool = False) -> Collected:
    """Remove harness containers (and their cell folders) whose owner is gone.

    With everything=True, remove every harness container, also of live harnesses."""
    removed, kept = [], []
    for c in list_labelled(client, f"{MANAGED}=1"):
        owner = owner_of(c.labels)
        if owner is None and not everything:
            continue  # not a cell: a container of an image harness built, which inherits its label
        if not everything and owner is not None and owner.alive():
            kept.append(c.name)
            continue
        try:
            client.api.remove_container(c.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise InfraError(f"cannot remove container {c.name}: {exc.explanation}") from None
        except TRANSIENT as exc:
            raise InfraError(f"Docker daemon did not answer while removing container"
                             f" {c.name}: {exc}") from None
        removed.append(c.name)
        cell_dir = c.labels.get("harness.cell_dir", "")
        if cell_dir and Path(cell_dir).name.startswith(CELL_PREFIX):
            cellfs.remove(Path(cell_dir))  # its tmpfs first, where it has one
    return Collected(tuple(removed), tuple(kept))


def remove_candidate_images(client: docker.DockerClient) -> list[str]:
    """Remove the cached candidate images (they are rebuilt when next needed)."""
    found = daemon_call("list images", lambda: client.images.list(
        filters={"label": f"{MANAGED}=1"}))
    removed = []
    for img in found:
        tags = [t for t in img.tags if t.startswith("harness/candidate:")]
        if not tags:
            continue
        try:
            client.images.remove(img.id, force=True)
            removed.extend(tags)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise InfraError(f"cannot remove image {tags[0]}: {exc.explanation}") from None
    return removed
