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
`CellFiles` collects the problems of one cell, in order and without repeats.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from harness.errors import InfraError

LOG_CAP = 8 << 20  # events.jsonl
OUTPUT_CAP = 8 << 20  # each file in outputs/
AUDIT_CAP = 16 << 20  # the probe's audit, which the candidate can write too
MAX_DEPTH = 64  # directory levels a copy or an ownership walk descends
MAX_HAZARDS = 50  # sentences kept per cell; a candidate can make new ones every tick

SYS_OPENAT2 = 437  # the same on x86_64 and aarch64 (aarch64 uses the generic table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# O_DIRECTORY fails on anything else during the lookup, before any open: safe for FIFOs.
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
NO_OPENAT2_ENV = "HARNESS_NO_OPENAT2"  # "1": walk component by component (for tests)


class Unsafe(Exception):
    """A file of the candidate's that the harness will not follow, open or change; the
    message is the sentence that names it."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _split(rel: str) -> list[str]:
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {rel!r}")
    return parts


def _openat2(dirfd: int, rel: str, flags: int) -> int:
    how = _OpenHow(flags, 0, _RESOLVE)
    for _ in range(16):  # EAGAIN: a rename elsewhere raced the lookup; the kernel asks again
        fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), os.fsencode(rel),
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), rel)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), rel)


def _walk(dirfd: int, parts: list[str], flags: int) -> int:
    """openat one component at a time, each directory with O_NOFOLLOW | O_DIRECTORY."""
    fd = dirfd
    try:
        for comp in parts[:-1]:
            nxt = os.open(comp, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
            if fd != dirfd:
                os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        if fd != dirfd:
            os.close(fd)


def _shown(target: str) -> str:
    shown = target if target.isprintable() else repr(target)
    return shown if len(shown) <= 200 else shown[:200] + "..."


def what(rel: str, mode: int, name: str, dirfd: int, dir_wanted: bool = False) -> str:
    """The sentence for a file at rel (name in dirfd) of this mode that is not what the
    contract wants there."""
    if stat.S_ISLNK(mode):
        try:
            target = _shown(os.readlink(name, dir_fd=dirfd))
        except OSError:
            target = "(a target that cannot be read)"
        return f"{rel} is a symlink to {target}"
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"))
    kind = next((k for test, k in kinds if test(mode)), f"of unknown type (mode {mode:o})")
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return f"{rel} is {kind}, not {'a directory' if dir_wanted else 'a regular file'}"
    return f"{rel} is {kind}"


def size_text(n: int) -> str:
    if n < 1 << 20:
        return f"{n} bytes"
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n / (1 << 20):.1f} MiB"


def _first_unsafe(rootfd: int, parts: list[str], want_dir: bool) -> str | None:
    """Walk parts with lstat: the sentence for the first component that is not a
    directory (or, last, not what is wanted); None if none is (or it changed meanwhile)."""
    fd = rootfd
    try:
        for i, comp in enumerate(parts):
            last = i == len(parts) - 1
            dir_wanted = want_dir or not last
            try:
                mode = os.stat(comp, dir_fd=fd, follow_symlinks=False).st_mode
            except OSError:
                return None
            if stat.S_ISDIR(mode) and dir_wanted and not last:
                try:
                    nxt = os.open(comp, _DIR, dir_fd=fd)
                except OSError:
                    return None
                if fd != rootfd:
                    os.close(fd)
                fd = nxt
                continue
            if (stat.S_ISDIR(mode) and dir_wanted) or (stat.S_ISREG(mode) and not dir_wanted):
                return None
            return what("/".join(parts[: i + 1]), mode, comp, fd, dir_wanted)
        return None
    finally:
        if fd != rootfd:
            os.close(fd)


def _reopen(pfd: int, flags: int) -> int:
    """Open, for real, the inode an O_PATH descriptor holds (never a path lookup again)."""
    return os.open(f"/proc/self/fd/{pfd}", flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)


def _bounded(fd: int, rel: str, cap: int) -> tuple[bytes, str]:
    """At most cap bytes from fd; and a problem sentence if the file holds more."""
    chunks, total = [], 0
    while total < cap:
        chunk = os.read(fd, min(_CHUNK, cap - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    if total < cap or not os.read(fd, 1):
        return data, ""
    size = max(os.fstat(fd).st_size, cap + 1)
    return data, f"{rel} is {size_text(size)}, over the {size_text(cap)} cap"


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
            fd = os.open(self.root, _DIR)
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
                return _openat2(rootfd, "/".join(parts), flags)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                self.openat2 = False  # no openat2 in this kernel (or its seccomp filter)
        return _walk(rootfd, parts, flags)

    def _problem(self, rootfd: int, parts: list[str], want_dir: bool,
                 exc: OSError | None) -> str:
        found = _first_unsafe(rootfd, parts, want_dir)
        why = exc.strerror if exc is not None else "it changed while the harness opened it"
        return found or f"{'/'.join(parts)} cannot be opened safely ({why})"

    def _open_dir(self, rootfd: int, parts: list[str]) -> int | None:
        """A descriptor of the real directory at parts (the root when empty); None if
        missing."""
        if not parts:
            return os.dup(rootfd)
        try:
            return self._resolve(rootfd, parts, _DIR)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unsafe(self._problem(rootfd, parts, True, exc)) from None

    def _open_file(self, rootfd: int, parts: list[str], flags: int) -> int | None:
        """The regular file at parts, opened with flags; None if missing."""
        try:
            pfd = self._resolve(rootfd, parts, _PATH)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unsafe(self._problem(rootfd, parts, False, exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(pfd).st_mode):
                raise Unsafe(self._problem(rootfd, parts, False, None))
            return _reopen(pfd, flags)
        finally:
            os.close(pfd)

    @contextlib.contextmanager
    def _parent(self, rel: str) -> Iterator[tuple[int | None, str]]:
        """The descriptor of rel's parent directory (None if missing), and rel's name."""
        parts = _split(rel)
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
            fd = self._open_file(rootfd, _split(rel), os.O_RDONLY)
        if fd is None:
            return None, ""
        try:
            return _bounded(fd, rel, cap)
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
            return _first_unsafe(rootfd, _split(rel), False)

    def entries(self, rel: str) -> list[tuple[str, os.stat_result]] | None:
        """The names in directory rel with their own status, sorted; None if missing."""
        parts = _split(rel)
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
        parts = _split(rel)
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
        parts = _split(rel)
        with self._rootfd() as rootfd, self._parent(rel) as (parent, name):
            if parent is None:
                raise Unsafe(f"{rel} cannot be written: its folder is missing")
            try:
                fd: int | None = os.open(name, _CREATE, 0o666, dir_fd=parent)
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

    def remove(self, rel: str) -> None:
        """Remove rel, whatever it is, never following a link (a link itself goes)."""
        with self._parent(rel) as (parent, name):
            if parent is not None:
                _remove_at(parent, name)

    def copy_out(self, rel: str, dest: Path) -> None:
        """Copy rel (a file, or a directory tree) to dest/rel, outside the cell: regular
        files and directories only. Each link or special file is left out and noted;
        Unsafe names the first, after the rest is copied."""
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        into = CellFiles(dest, openat2=self.openat2)
        problems: list[str] = []
        with self._parent(rel) as (src, name), into._parent(rel) as (dst, _):
            if src is not None and dst is not None:
                _copy(src, dst, name, rel, problems, 0)
        for p in problems:
            self.note(p)
        if problems:
            raise Unsafe(problems[0])

    def copy_in(self, src: Path, rel: str) -> None:
        """Make rel a copy of src/rel (a snapshot that copy_out made), or absent if that
        is absent."""
        source = CellFiles(src, openat2=self.openat2)
        problems: list[str] = []
        with self._parent(rel) as (dst, name), source._parent(rel) as (frm, _):
            if dst is None:
                raise Unsafe(f"{rel} cannot be restored: its folder is missing")
            _remove_at(dst, name)
            if frm is not None:
                _copy(frm, dst, name, rel, problems, 0)
        if problems:  # the snapshot is the harness's own copy: this is its failure
            raise InfraError(f"the snapshot of {rel} changed: {problems[0]}")

    def chown_tree(self, rel: str, uid: int, gid: int) -> None:
        """lchown rel and, when it is a real directory, everything beneath it; a link is
        changed itself, never followed."""
        with self._parent(rel) as (parent, name):
            if parent is not None:
                _chown_at(parent, name, uid, gid, 0)


def _remove_at(parent: int, name: str) -> None:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(name, dir_fd=parent)  # works by descriptors: never follows a link
    else:
        os.unlink(name, dir_fd=parent)


def _copy(src: int, dst: int, name: str, rel: str, problems: list[str], depth: int) -> None:
    try:
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
        os.mkdir(name, 0o700, dir_fd=dst)
        s = os.open(name, _DIR, dir_fd=src)
        try:
            d = os.open(name, _DIR, dir_fd=dst)
            try:
                for child in sorted(os.listdir(s)):
                    _copy(s, d, child, f"{rel}/{child}", problems, depth + 1)
                os.chmod(d, stat.S_IMODE(st.st_mode))
                os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(d)
        finally:
            os.close(s)
    elif stat.S_ISREG(st.st_mode):
        _copy_file(src, dst, name, rel, problems)
    elif stat.S_ISDIR(st.st_mode):
        problems.append(f"{rel} is nested more than {MAX_DEPTH} directories deep")
    else:
        problems.append(what(rel, st.st_mode, name, src))


def _copy_file(src: int, dst: int, name: str, rel: str, problems: list[str]) -> None:
    pfd = os.open(name, _PATH, dir_fd=src)
    try:
        st = os.fstat(pfd)
        if not stat.S_ISREG(st.st_mode):  # replaced since the lstat
            problems.append(what(rel, st.st_mode, name, src))
            return
        fin = _reopen(pfd, os.O_RDONLY)
    finally:
        os.close(pfd)
    try:
        out = os.open(name, _CREATE, 0o600, dir_fd=dst)
        try:
            while chunk := os.read(fin, _CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
            os.chmod(out, stat.S_IMODE(st.st_mode))
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(out)
    finally:
        os.close(fin)


def _chown_at(parent: int, name: str, uid: int, gid: int, depth: int) -> None:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode) or depth >= MAX_DEPTH:
        return
    try:
        fd = os.open(name, _DIR, dir_fd=parent)
    except OSError:
        return  # replaced by something else meanwhile: it is not followed
    try:
        for child in os.listdir(fd):
            _chown_at(fd, child, uid, gid, depth + 1)
    finally:
        os.close(fd)
