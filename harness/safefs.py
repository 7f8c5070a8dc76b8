"""Host-side access to a cell's files: never through a link, never into a special file.

The harness runs as root, and every file under a cell root belongs to an untrusted
candidate, which can put a symlink (to /etc/passwd, say), a FIFO, a socket or a device
where the contract expects a file. So every access here starts from a descriptor of the
cell root and resolves the relative path beneath it with openat2(2) and RESOLVE_BENEATH
| RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or, where the kernel has no openat2, one
component at a time with O_NOFOLLOW. A file is first opened with O_PATH, which opens
nothing: it is reopened for reading or writing (through /proc/self/fd, so the very inode
that was checked) only once fstat shows a regular file. A FIFO never blocks the harness
and a device is never opened.

What the harness refuses is a *problem*: a sentence naming the file relative to the
cell and what it is ("work/state/events.jsonl is a symlink to /etc/passwd"). A link's
target is read with readlinkat, which does not follow it; what it points at never is.
Reads are bounded: at most `cap` bytes, and a larger file is a problem naming its size.
`CellFiles` collects the problems of one cell, in order and without repeats. The
resolving primitives it builds on live in `harness.beneath`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.beneath import (
    NO_OPENAT2_ENV,
    O_CREATE_FLAGS,
    O_DIR_FLAGS,
    O_PATH_FLAGS,
    Unsafe,
    bounded,
    chown_at,
    copy,
    first_unsafe,
    openat2,
    remove_at,
    reopen,
    size_text,
    split,
    walk,
    what,
)
from harness.errors import InfraError

__all__ = ["AUDIT_CAP", "LOG_CAP", "MAX_HAZARDS", "OUTPUT_CAP", "CellFiles", "Unsafe",
           "size_text", "what"]

LOG_CAP = 8 << 20  # events.jsonl
OUTPUT_CAP = 8 << 20  # each file in outputs/
AUDIT_CAP = 16 << 20  # the probe's audit, which the candidate can write too
MAX_HAZARDS = 50  # sentences kept per cell; a candidate can make new ones every tick


def _openat2_default() -> bool:
    return os.environ.get(NO_OPENAT2_ENV) != "1"


class CellFiles:
    """Every host-side access to the files under one cell root, and the problems met.

    Methods raise `Unsafe` for a file they refuse, except `read`, which notes the
    problem and answers None as for a missing file. `hazards` holds the problems noted,
    in order, each once: a file over its cap once, with the latest size seen; past
    MAX_HAZARDS, one sentence says that more were seen."""

    def __init__(self, root: Path, *, openat2: bool | None = None) -> None:
        self.root = root
        self.openat2 = _openat2_default() if openat2 is None else openat2
        self._hazards: dict[str, str] = {}  # key (the sentence, or the file for a cap) -> it
        self._dropped = False
        # Equal contents share one object: a log unchanged across invocations is held once.
        self._interned: dict[bytes, bytes] = {}

    @property
    def hazards(self) -> tuple[str, ...]:
        more = ("more unsafe files (or changes to them) were seen than are listed",)
        return (*self._hazards.values(), *(more if self._dropped else ()))

    def note(self, problem: str, key: str = "") -> None:
        key = key or problem
        if key in self._hazards:
            self._hazards[key] = problem  # a growing file: its latest size
        elif len(self._hazards) < MAX_HAZARDS:
            self._hazards[key] = problem
        else:
            self._dropped = True

    def intern(self, data: bytes) -> bytes:
        return self._interned.setdefault(data, data)

    # -- resolving ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _rootfd(self) -> Iterator[int]:
        try:
            fd = os.open(self.root, O_DIR_FLAGS)
        except OSError as exc:
            raise Unsafe(f"the cell folder {self.root} cannot be opened:"
                         f" {exc.strerror or exc}") from None
        try:
            yield fd
        finally:
            os.close(fd)

    def _resolve(self, rootfd: int, parts: list[str], flags: int) -> int:
        if self.openat2:
            try:
                return openat2(rootfd, "/".join(parts), flags)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                self.openat2 = False  # no openat2 in this kernel (or its seccomp filter)
        return walk(rootfd, parts, flags)

    def _problem(self, rootfd: int, parts: list[str], want_dir: bool,
                 exc: OSError | None) -> str:
        found = first_unsafe(rootfd, parts, want_dir)
        why = exc.strerror if exc is not None else "it changed while the harness opened it"
        return found or f"{'/'.join(parts)} cannot be opened safely ({why})"

    def _open_dir(self, rootfd: int, parts: list[str]) -> int | None:
        """A descriptor of the real directory at parts (the root when empty); None if
        missing."""
        if not parts:
            return os.dup(rootfd)
        try:
            return self._resolve(rootfd, parts, O_DIR_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unsafe(self._problem(rootfd, parts, True, exc)) from None

    def _open_file(self, rootfd: int, parts: list[str], flags: int) -> int | None:
        """The regular file at parts, opened with flags; None if missing."""
        try:
            pfd = self._resolve(rootfd, parts, O_PATH_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unsafe(self._problem(rootfd, parts, False, exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(pfd).st_mode):
                raise Unsafe(self._problem(rootfd, parts, False, None))
            return reopen(pfd, flags)
        finally:
            os.close(pfd)

    @contextlib.contextmanager
    def _parent(self, rel: str) -> Iterator[tuple[int | None, str]]:
        """The descriptor of rel's parent directory (None if missing), and rel's name."""
        parts = split(rel)
        with self._rootfd() as rootfd:
            fd = self._open_dir(rootfd, parts[:-1])
            try:
                yield fd, parts[-1]
            finally:
                if fd is not None:
                    os.close(fd)

    # -- reading -----------------------------------------------------------------------

    def _read(self, rel: str, cap: int) -> tuple[bytes | None, str]:
        """The bytes, and a problem sentence if over the cap; raises Unsafe."""
        with self._rootfd() as rootfd:
            fd = self._open_file(rootfd, split(rel), os.O_RDONLY)
        if fd is None:
            return None, ""
        try:
            return bounded(fd, rel, cap)
        finally:
            os.close(fd)

    def read(self, rel: str, cap: int, *, intern: bool = False) -> bytes | None:
        """rel's first `cap` bytes; None when it is missing or refused (the problem is
        noted, as is a file over the cap). intern: equal contents share one object."""
        try:
            data, problem = self._read(rel, cap)
        except Unsafe as exc:
            self.note(str(exc))
            return None
        if problem:
            self.note(problem, key=f"over the cap: {rel}")
        return self.intern(data) if data is not None and intern else data

    def read_strict(self, rel: str, cap: int) -> bytes | None:
        """rel's bytes, None if missing; raises Unsafe if refused or over the cap."""
        data, problem = self._read(rel, cap)
        if problem:
            raise Unsafe(problem)
        return data

    def lstat(self, rel: str) -> os.stat_result | None:
        """rel's own status (a link is not followed); None if it or its folder is missing."""
        with self._parent(rel) as (parent, name):
            if parent is None:
                return None
            try:
                return os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                return None

    def describe(self, rel: str) -> str | None:
        """The problem sentence for rel if it is not a regular file (None if it is one,
        or missing)."""
        with self._rootfd() as rootfd:
            return first_unsafe(rootfd, split(rel), False)

    def entries(self, rel: str) -> list[tuple[str, os.stat_result]] | None:
        """The names in directory rel with their own status, sorted; None if missing."""
        parts = split(rel)
        with self._rootfd() as rootfd:
            fd = self._open_dir(rootfd, parts)
        if fd is None:
            return None
        try:
            found = []
            for name in sorted(os.listdir(fd)):
                try:
                    found.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
                except FileNotFoundError:
                    continue
            return found
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def dir_path(self, rel: str) -> Iterator[str | None]:
        """A path to the real directory rel, for APIs that take only a path (inotify):
        /proc/self/fd/N of a descriptor resolved beneath the root, so the kernel's own
        lookup cannot be led elsewhere by a link. None if rel is missing."""
        parts = split(rel)
        with self._rootfd() as rootfd:
            fd = self._open_dir(rootfd, parts)
        if fd is None:
            yield None
            return
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)

    # -- writing -----------------------------------------------------------------------

    def write(self, rel: str, data: bytes) -> None:
        """Make rel hold data: a regular file is rewritten in place (keeping its owner,
        so the engine can still write it), a missing one created with O_EXCL; anything
        else raises Unsafe, unchanged."""
        parts = split(rel)
        with self._rootfd() as rootfd, self._parent(rel) as (parent, name):
            if parent is None:
                raise Unsafe(f"{rel} cannot be written: its folder is missing")
            try:
                fd: int | None = os.open(name, O_CREATE_FLAGS, 0o666, dir_fd=parent)
            except FileExistsError:
                fd = self._open_file(rootfd, parts, os.O_WRONLY | os.O_TRUNC)
            if fd is None:
                raise Unsafe(f"{rel} vanished while the harness wrote it")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def mkdir(self, rel: str) -> None:
        """Create directory rel; an existing real directory is fine, anything else not."""
        with self._parent(rel) as (parent, name):
            if parent is None:
                raise Unsafe(f"{rel} cannot be made: its folder is missing")
            try:
                os.mkdir(name, 0o777, dir_fd=parent)
            except FileExistsError:
                mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
                if not stat.S_ISDIR(mode):
                    raise Unsafe(what(rel, mode, name, parent, dir_wanted=True)) from None

    def make_tree(self, where: str, dirs: Iterable[str], files: Iterable[tuple[str, bytes]]
                  ) -> None:
        """Make the folder `where` hold the folders `dirs` and the files `files` (paths
        relative to it, each folder on the way made too), as a crash state or a saved
        one is laid down for an engine to resume."""
        files = list(files)
        self.mkdir(where)
        made = {""}
        for rel in sorted({*dirs, *(posixpath.dirname(p) for p, _ in files)} - {""}):
            parts = rel.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made:
                    self.mkdir(f"{where}/{sub}")
                    made.add(sub)
        for rel, data in files:
            self.write(f"{where}/{rel}", data)

    def remove(self, rel: str) -> None:
        """Remove rel, whatever it is, never following a link (a link itself goes)."""
        with self._parent(rel) as (parent, name):
            if parent is not None:
                remove_at(parent, name)

    def copy_out(self, rel: str, dest: Path) -> None:
        """Copy rel (a file, or a directory tree) to dest/rel, outside the cell: regular
        files and directories only. Each link or special file is left out and noted;
        Unsafe names the first, after the rest is copied."""
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        into = CellFiles(dest, openat2=self.openat2)
        problems: list[str] = []
        with self._parent(rel) as (src, name), into._parent(rel) as (dst, _):
            if src is not None and dst is not None:
                copy(src, dst, name, rel, problems, 0)
        for p in problems:
            self.note(p)
        if problems:
            raise Unsafe(problems[0])

    def copy_in(self, src: Path, rel: str, into: str = "") -> None:
        """Make rel (or `into`, when given) a copy of src/rel (a snapshot that copy_out
        made), or absent if that is absent."""
        source = CellFiles(src, openat2=self.openat2)
        problems: list[str] = []
        with self._parent(into or rel) as (dst, name), source._parent(rel) as (frm, old):
            if dst is None:
                raise Unsafe(f"{into or rel} cannot be restored: its folder is missing")
            remove_at(dst, name)
            if frm is not None:
                copy(frm, dst, old, rel, problems, 0, as_name=name)
        if problems:  # the snapshot is the harness's own copy: this is its failure
            raise InfraError(f"the snapshot of {rel} changed: {problems[0]}")

    def chown_tree(self, rel: str, uid: int, gid: int) -> None:
        """lchown rel and, when it is a real directory, everything beneath it; a link is
        changed itself, never followed."""
        with self._parent(rel) as (parent, name):
            if parent is not None:
                chown_at(parent, name, uid, gid, 0)
