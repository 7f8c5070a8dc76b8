"""Resolving paths beneath a directory descriptor, never through a link.

The primitives `harness.safefs` builds on: openat2(2) with RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (or one component at a time with O_NOFOLLOW
where the kernel has no openat2), O_PATH descriptors that are reopened for real only once
fstat shows a regular file, bounded reads, the sentence that names a file which is not
what the contract wants there, and copies, removals and ownership walks of trees by
descriptor that never follow a link. Nothing here knows about cells.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat

MAX_DEPTH = 64  # directory levels a copy or an ownership walk descends

SYS_OPENAT2 = 437  # the same on x86_64 and aarch64 (aarch64 uses the generic table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
O_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# O_DIRECTORY fails on anything else during the lookup, before any open: safe for FIFOs.
O_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
O_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20
NO_OPENAT2_ENV = "HARNESS_NO_OPENAT2"  # "1": walk component by component (for tests)


class Unsafe(Exception):
    """A file of the candidate's that the harness will not follow, open or change; the
    message is the sentence that names it."""


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def split(rel: str) -> list[str]:
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {rel!r}")
    return parts


def plain(rel: str) -> bool:
    """rel names something beneath a folder: relative, no empty, "." or ".." part, no NUL."""
    try:
        split(rel)
    except ValueError:
        return False
    return "\0" not in rel


def openat2(dirfd: int, rel: str, flags: int) -> int:
    how = OpenHow(flags, 0, RESOLVE)
    for _ in range(16):  # EAGAIN: a rename elsewhere raced the lookup; the kernel asks again
        fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), os.fsencode(rel),
                           ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), rel)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), rel)


def walk(dirfd: int, parts: list[str], flags: int) -> int:
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
    """A byte count as people read it: "4 MiB", "3.1 GiB", "512 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def first_unsafe(rootfd: int, parts: list[str], want_dir: bool) -> str | None:
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
                    nxt = os.open(comp, O_DIR_FLAGS, dir_fd=fd)
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


def reopen(pfd: int, flags: int) -> int:
    """Open, for real, the inode an O_PATH descriptor holds (never a path lookup again)."""
    return os.open(f"/proc/self/fd/{pfd}", flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)


def bounded(fd: int, rel: str, cap: int) -> tuple[bytes, str]:
    """At most cap bytes from fd; and a problem sentence if the file holds more."""
    chunks, total = [], 0
    while total < cap:
        chunk = os.read(fd, min(CHUNK, cap - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    if total < cap or not os.read(fd, 1):
        return data, ""
    size = max(os.fstat(fd).st_size, cap + 1)
    return data, f"{rel} is {size_text(size)}, over the {size_text(cap)} cap"


def remove_at(parent: int, name: str) -> None:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(name, dir_fd=parent)  # works by descriptors: never follows a link
    else:
        os.unlink(name, dir_fd=parent)


def copy(src: int, dst: int, name: str, rel: str, problems: list[str], depth: int,
         as_name: str = "") -> None:
    """Copy src/name to dst/name (dst/as_name if given): regular files and directories,
    each other kind left out and put in problems."""
    try:
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
    except FileNotFoundError:
        return
    target = as_name or name
    if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
        os.mkdir(target, 0o700, dir_fd=dst)
        s = os.open(name, O_DIR_FLAGS, dir_fd=src)
        try:
            d = os.open(target, O_DIR_FLAGS, dir_fd=dst)
            try:
                for child in sorted(os.listdir(s)):
                    copy(s, d, child, f"{rel}/{child}", problems, depth + 1)
                os.chmod(d, stat.S_IMODE(st.st_mode))
                os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(d)
        finally:
            os.close(s)
    elif stat.S_ISREG(st.st_mode):
        copy_file(src, dst, name, rel, problems, target)
    elif stat.S_ISDIR(st.st_mode):
        problems.append(f"{rel} is nested more than {MAX_DEPTH} directories deep")
    else:
        problems.append(what(rel, st.st_mode, name, src))


def copy_file(src: int, dst: int, name: str, rel: str, problems: list[str],
              as_name: str = "") -> None:
    pfd = os.open(name, O_PATH_FLAGS, dir_fd=src)
    try:
        st = os.fstat(pfd)
        if not stat.S_ISREG(st.st_mode):  # replaced since the lstat
            problems.append(what(rel, st.st_mode, name, src))
            return
        fin = reopen(pfd, os.O_RDONLY)
    finally:
        os.close(pfd)
    try:
        out = os.open(as_name or name, O_CREATE_FLAGS, 0o600, dir_fd=dst)
        try:
            while chunk := os.read(fin, CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
            os.chmod(out, stat.S_IMODE(st.st_mode))
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(out)
    finally:
        os.close(fin)


def chown_at(parent: int, name: str, uid: int, gid: int, depth: int) -> None:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode) or depth >= MAX_DEPTH:
        return
    try:
        fd = os.open(name, O_DIR_FLAGS, dir_fd=parent)
    except OSError:
        return  # replaced by something else meanwhile: it is not followed
    try:
        for child in os.listdir(fd):
            chown_at(fd, child, uid, gid, depth + 1)
    finally:
        os.close(fd)
