"""The results store: OUT/results.sqlite, one row per finished cell, committed as it ends.

A study runs for hours, and a run that dies must lose nothing it finished. So every
cell is written the moment it ends, in a transaction of its own, to an embedded SQLite
file (the standard library's `sqlite3`, WAL mode, `synchronous=FULL`): a `kill -9` at
any moment, mid-commit included, leaves either the whole row or none of it. The row
holds the whole `CellResult` (`harness.cells.cell_to_json`), filed under its
`CellKey`, so results.json and the reports can be made again from the store alone, and
`--resume` skips exactly the keys that are here.

The file says what it is: SQLite's `application_id` marks it as harness's, and
`user_version` holds the schema version. A file that is not a store, or a store of a
version this harness does not know, is refused before anything in it is changed
(`StoreError`, exit 2); so is an existing file that is not ours when a fresh run would
replace it. Only the run holding the output folder's lock (`harness.outdir`) writes.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import socket
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cells import CellKey, cell_from_json, cell_to_json
from harness.errors import InfraError, UsageError
from harness.model import CellResult

FILE = "results.sqlite"
SCHEMA_VERSION = 1
APPLICATION_ID = 0x68726E73  # "hrns": this SQLite file is a harness results store
# A test seam: "N:before|inside|after" kills this process (SIGKILL) at that point of the
# N-th cell's commit, so a test can show what a kill mid-commit leaves. Unset: no effect.
KILL_ENV = "HARNESS_TEST_KILL_AT_COMMIT"

SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    ended TEXT,
    outcome TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    harness_version TEXT NOT NULL,
    resumed INTEGER NOT NULL,
    argv TEXT NOT NULL
);
CREATE TABLE cells (
    candidate_digest TEXT NOT NULL,
    scenario_digest TEXT NOT NULL,
    seed INTEGER NOT NULL,
    trial INTEGER NOT NULL,
    runner TEXT NOT NULL,
    candidate TEXT NOT NULL,
    scenario TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    finished TEXT NOT NULL,
    infra_error INTEGER NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (candidate_digest, scenario_digest, seed, trial, runner)
);
"""


class StoreError(UsageError):
    """The store cannot be used as asked: not a store, an unknown version, unreadable."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _probe(path: Path) -> None:
    """Refuse path unless it is a harness store this version reads; read-only, so nothing
    of a file that is not ours (or of another version) is changed."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the results store: {exc}") from None
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a harness results store ({exc})") from None
    finally:
        conn.close()
    if app != APPLICATION_ID:
        raise StoreError(f"{path}: not a harness results store (an SQLite file of something"
                         " else); move it away or choose another --out")
    if version != SCHEMA_VERSION:
        raise StoreError(f"{path}: a results store of schema version {version}; this harness"
                         f" ({__version__}) reads version {SCHEMA_VERSION}; choose another --out")


def _unlink(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class Store:
    """An open results store; use it with `with`. Only `open` makes one."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self.run_id = 0
        self._commits = 0
        self._kill_at = os.environ.get(KILL_ENV, "")

    @classmethod
    def open(cls, folder: Path, resume: bool) -> Store:
        """The store in folder: the one there when resuming (a new one if there is none),
        else a new one in place of whatever store an earlier run left.

        StoreError (exit 2), changing nothing, when the file there is not a store or is
        one of another schema version."""
        path = folder / FILE
        if os.path.lexists(path):
            if path.is_symlink() or not path.is_file():
                raise StoreError(f"{path}: not a regular file; move it away or choose another"
                                 " --out")
            _probe(path)
            if not resume:
                _unlink(path)  # an earlier run's store: this run starts afresh
        fresh = not path.exists()
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if fresh:
                conn.execute("BEGIN IMMEDIATE")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot write the results store: {exc}") from None
        return cls(path, conn)

    def begin_run(self, argv: Sequence[str], resumed: bool) -> int:
        """Record this run; its id marks every cell it commits."""
        with self._txn():
            cur = self._conn.execute(
                "INSERT INTO runs (started, pid, host, harness_version, resumed, argv)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (_now(), os.getpid(), socket.gethostname(), __version__, int(resumed),
                 json.dumps(list(argv))))
            self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def end_run(self, outcome: str) -> None:
        with self._txn():
            self._conn.execute("UPDATE runs SET ended = ?, outcome = ? WHERE id = ?",
                               (_now(), outcome, self.run_id))

    def runs(self) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT id, started, ended, outcome, pid, host, resumed"
                                 " FROM runs ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def done(self) -> set[CellKey]:
        """The keys of every finished cell in the store."""
        rows = self._conn.execute("SELECT candidate_digest, scenario_digest, seed, trial, runner"
                                  " FROM cells")
        return {CellKey(*row) for row in rows}

    def put(self, cell: CellResult) -> None:
        """Commit one finished cell (it must carry its key), in a transaction of its own."""
        key: CellKey = cell.key
        if not isinstance(key, CellKey):
            raise ValueError("a cell is stored under its CellKey; this one has none")
        self._commits += 1
        self._maybe_die("before")
        with self._txn():
            self._conn.execute(
                "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key.candidate, key.scenario, key.seed, key.trial, key.runner, cell.candidate,
                 cell.scenario, self.run_id, _now(), int(bool(cell.infra_error)),
                 json.dumps(cell_to_json(cell), separators=(",", ":"))))
            self._maybe_die("inside")
        self._maybe_die("after")

    def cells(self, keys: Iterable[CellKey]) -> dict[CellKey, CellResult]:
        """The stored results of these keys (those that are here)."""
        found: dict[CellKey, CellResult] = {}
        for key in keys:
            row = self._conn.execute(
                "SELECT result FROM cells WHERE candidate_digest = ? AND scenario_digest = ?"
                " AND seed = ? AND trial = ? AND runner = ?",
                (key.candidate, key.scenario, key.seed, key.trial, key.runner)).fetchone()
            if row is not None:
                found[key] = cell_from_json(json.loads(row[0]), key)
        return found

    def run_of(self, key: CellKey) -> int | None:
        """The id of the run that committed key's cell."""
        row = self._conn.execute(
            "SELECT run_id FROM cells WHERE candidate_digest = ? AND scenario_digest = ?"
            " AND seed = ? AND trial = ? AND runner = ?",
            (key.candidate, key.scenario, key.seed, key.trial, key.runner)).fetchone()
        return None if row is None else int(row[0])

    @contextlib.contextmanager
    def _txn(self) -> Any:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk, say: the harness's failure, not the user's
            raise InfraError(f"{self.path}: cannot write the results store: {exc}") from None

    def _maybe_die(self, phase: str) -> None:
        if self._kill_at and self._kill_at == f"{self._commits}:{phase}":
            os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
