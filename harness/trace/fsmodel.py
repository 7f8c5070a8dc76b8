"""A model of STATE_DIR replayed from `DurabilityCall`s: what a process crash and what a
power loss leave of it.

`FileSystem.apply` replays one call: writes (appended under O_APPEND or to an fd not seen
opened; at the fd's position otherwise; at the offset for pwrite), truncates, O_CREAT and
O_TRUNC opens, unlinks, mkdirs, renames and hard links. A failed call, or one whose
process died in it (``ret`` None: the kill lands before the call takes effect), changes
nothing. `live` is the tree a process crash leaves (the page cache survives).

`durable` is the tree a power loss leaves, under the contract's STRICT model, which is
harsher than Linux ext4 on purpose (ext4's journal often keeps more):

- a file's bytes are those of its last fsync/fdatasync (none: empty). sync_file_range
  makes nothing durable (it flushes no metadata and promises nothing);
- a directory's entries (creates, mkdirs, renames, links, unlinks, on either side of a
  rename) are those it had at its last fsync; an entry made since is undone, one
  removed since is back. A new file is durable only once its directory is fsynced.

An fd is its process's (`Call.proc`), shared by all its threads: one thread may open
the file another writes. A forked child's inherited fds are not carried over: its
writes through them land at the end of the file they name (as an fd not seen opened).

The replay starts from an empty STATE_DIR that exists durably (the trace of a first
`run`); entries are file or directory nodes, so a hard link shares its bytes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from harness.trace.durability import DurabilityCall, Kind
from harness.trace.strace import O_APPEND, O_CREAT, O_TRUNC

AT_REMOVEDIR = 0x200
_WRITES = {"write", "writev"}  # at the fd's position; the p* calls carry their offset
DIR = -1  # the node of a directory entry


@dataclass(slots=True)
class _Fd:
    path: str
    inode: int
    append: bool
    pos: int = 0


@dataclass(slots=True)
class FileSystem:
    """The tree as the calls left it (`live`) and as a power loss would (`durable`)."""

    files: dict[str, int] = field(default_factory=dict)  # rel path -> inode
    dirs: set[str] = field(default_factory=lambda: {"."})
    data: dict[int, bytearray] = field(default_factory=dict)  # inode -> its bytes
    synced: dict[int, bytes] = field(default_factory=dict)  # inode -> bytes at last fsync
    entries: dict[str, dict[str, int]] = field(default_factory=lambda: {".": {}})  # durable
    fds: dict[tuple[int, int], _Fd] = field(default_factory=dict)  # (process, fd): threads share

    def copy(self) -> FileSystem:
        return FileSystem(dict(self.files), set(self.dirs),
                          {i: bytearray(b) for i, b in self.data.items()}, dict(self.synced),
                          {d: dict(e) for d, e in self.entries.items()},
                          {k: _Fd(f.path, f.inode, f.append, f.pos) for k, f in self.fds.items()})

    def live(self) -> tuple[dict[str, bytes], tuple[str, ...]]:
        """Every file's bytes and every directory (STATE_DIR itself left out)."""
        files = {p: bytes(self.data[i]) for p, i in sorted(self.files.items())}
        return files, tuple(sorted(self.dirs - {"."}))

    def durable(self) -> tuple[dict[str, bytes], tuple[str, ...]]:
        """What the strict power-loss model keeps: durable entries, fsynced bytes."""
        files: dict[str, bytes] = {}
        dirs: list[str] = []
        todo = ["."]
        while todo:
            parent = todo.pop()
            for name, node in self.entries.get(parent, {}).items():
                path = name if parent == "." else f"{parent}/{name}"
                if node == DIR:
                    dirs.append(path)
                    todo.append(path)
                else:
                    files[path] = self.synced.get(node, b"")
        return dict(sorted(files.items())), tuple(sorted(dirs))

    def apply(self, dc: DurabilityCall) -> None:
        call = dc.call
        if call.failed or call.ret is None:
            return
        name = call.syscall
        if dc.kind is Kind.OPEN:
            self._open(dc)
        elif dc.kind in (Kind.LOG_WRITE, Kind.WRITE) and call.data:
            self.write(dc, call.data)
        elif dc.kind is Kind.SYNC and name in ("fsync", "fdatasync"):
            self._sync(dc.rel[0])
        elif dc.kind is Kind.TRUNCATE and call.length is not None:
            inode = self.files.get(dc.rel[0])
            if inode is not None:
                buf = self.data[inode]
                del buf[call.length:]
                buf += bytes(call.length - len(buf))
        elif dc.kind is Kind.MKDIR and dc.rel[0] not in ("", "."):
            self.dirs.add(dc.rel[0])
        elif dc.kind is Kind.UNLINK:
            self._unlink(dc.rel[0], bool((call.flags or 0) & AT_REMOVEDIR))
        elif dc.kind in (Kind.MOVE, Kind.PUBLISH) and len(dc.rel) == 2:
            self._move(dc.rel[0], dc.rel[1], keep=name.startswith("link"))

    def target(self, dc: DurabilityCall) -> tuple[int, int] | None:
        """(inode, offset) where a write call's data lands, or None (no such file)."""
        call, path = dc.call, dc.rel[0]
        fd = self.fds.get((call.proc, call.fd)) if call.fd is not None else None
        if fd is not None and self.files.get(path) != fd.inode:
            fd = None  # stale: that fd was closed and reused where this trace cannot see
        inode = fd.inode if fd is not None else self.files.get(path)
        if inode is None:
            return None
        if call.syscall not in _WRITES and call.offset is not None:
            return inode, call.offset
        if fd is None or fd.append:
            return inode, len(self.data[inode])
        return inode, fd.pos

    def write(self, dc: DurabilityCall, data: bytes, zeros: int = 0) -> None:
        """Write data (then `zeros` zero bytes, a torn write's zero-filled tail)."""
        where = self.target(dc)
        if where is None:
            return
        inode, at = where
        buf = self.data[inode]
        buf += bytes(max(0, at - len(buf)))
        payload = data + bytes(zeros)
        buf[at:at + len(payload)] = payload
        call = dc.call
        fd = self.fds.get((call.proc, call.fd)) if call.fd is not None else None
        if fd is not None and fd.inode == inode and call.syscall in _WRITES:
            fd.pos = at + len(data)

    def _open(self, dc: DurabilityCall) -> None:
        call, path = dc.call, dc.rel[0]
        flags = call.flags or 0
        if path in self.dirs or path == "":
            return
        inode = self.files.get(path)
        if inode is None:
            if not flags & O_CREAT:
                return
            inode = len(self.data)
            self.data[inode] = bytearray()
            self.files[path] = inode
        elif flags & O_TRUNC:
            self.data[inode].clear()
        if call.ret is not None and call.ret >= 0:
            self.fds[(call.proc, call.ret)] = _Fd(path, inode, bool(flags & O_APPEND))

    def _sync(self, path: str) -> None:
        if path in self.dirs:
            prefix = "" if path == "." else path + "/"
            children = {p[len(prefix):]: i for p, i in self.files.items()
                        if _parent(p) == path}
            children |= {d[len(prefix):]: DIR for d in self.dirs
                         if d != "." and _parent(d) == path}
            self.entries[path] = children
        elif path in self.files:
            inode = self.files[path]
            self.synced[inode] = bytes(self.data[inode])

    def _unlink(self, path: str, is_dir: bool) -> None:
        if is_dir:
            self.dirs.discard(path)
        else:
            self.files.pop(path, None)

    def _move(self, old: str, new: str, keep: bool) -> None:
        if old == "":  # from outside STATE_DIR: bytes unknown
            inode = len(self.data)
            self.data[inode] = bytearray()
            self.files[new] = inode
        elif old in self.dirs and not keep:
            moved = {d for d in self.dirs if d == old or d.startswith(old + "/")}
            self.dirs = (self.dirs - moved) | {new + d[len(old):] for d in moved if new}
            for p in [p for p in self.files if p.startswith(old + "/")]:
                inode = self.files.pop(p)
                if new:
                    self.files[new + p[len(old):]] = inode
        elif old in self.files:
            inode = self.files[old] if keep else self.files.pop(old)
            if new:
                self.files[new] = inode


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "."


def replay(calls: list[DurabilityCall]) -> FileSystem:
    """The model after every call of calls, in order."""
    fs = FileSystem()
    for dc in calls:
        fs.apply(dc)
    return fs
