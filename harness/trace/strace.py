"""Run a command under strace, and parse what strace wrote into `Call` records.

`strace_argv` records, for every process of the tree (``-f``), each call in `TRACED`,
with fd paths (``-y``), numeric flags (``-X raw``, so no table of flag names is needed
to read them back), structures in full (``-v``) and every string as hex escapes with
no cut below `DATA_CAP` bytes (``-xx -s``), so that a write's data is known byte for
byte. It records all paths and leaves filtering to `harness.trace.durability`: strace's
``-P`` matches exact paths only (``-P STATE_DIR`` does not match a file under it), and
the names an engine writes under STATE_DIR are not known before it runs.

`parse_trace` never raises anything but `TraceError`, which names the line it could not
read. A call split by another process's calls (``<unfinished ...>`` then ``<... NAME
resumed>``) becomes one `Call`, placed where it completed; a call whose process died
before it returned is kept with ``ret=None``. Signal and exit lines are skipped.

strace -f names each line by its *thread* id. `Call.proc` is the process (thread group
id) the thread belongs to, derived from the trace's own clone calls once every line is
read (a thread's first line may come before its creator's ``<... clone3 resumed>``): a
clone or clone3 with CLONE_THREAD adds its result to the caller's process; any other
clone, fork or vfork makes a new one; a thread the trace never saw made (the process
strace started) is its own process. What a process shares between its threads is kept
per process: the cwd that relative paths resolve against.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import HarnessError

DATA_CAP = 16 << 20  # twice the 8 MiB a contract file may hold: no write's data is cut

TRACED = (
    "open", "openat", "openat2", "creat",
    "write", "pwrite64", "writev", "pwritev", "pwritev2",
    "fsync", "fdatasync", "sync_file_range",
    "rename", "renameat", "renameat2", "link", "linkat",
    "truncate", "ftruncate", "unlink", "unlinkat", "mkdir", "mkdirat",
    "clone", "clone3", "fork", "vfork",  # when a process was made: its return is the child
)  # no close/dup/fcntl: -y names each fd's file at every call, so fds need no tracking

O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND = 0o1, 0o2, 0o100, 0o1000, 0o2000
CLONE_THREAD = 0x10000  # linux/sched.h: the child joins the caller's thread group
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})  # the calls that make a thread or process


class TraceError(HarnessError):
    """strace's output holds a line this parser cannot read (the line is named)."""

    exit_code = 3


def strace_prefix(trace_file: str) -> list[str]:
    """The strace argv, ending in "--", that records what follows it into trace_file."""
    return ["strace", "-f", "-y", "-X", "raw", "-v", "-xx", "-s", str(DATA_CAP), "-ttt",
            "-o", trace_file, "-e", "trace=" + ",".join(TRACED), "--"]


def strace_argv(argv: Sequence[str], trace_file: str) -> list[str]:
    """The command that runs argv under strace, writing the trace to trace_file."""
    if not argv:
        raise TraceError("strace_argv: the command to trace is empty")
    return [*strace_prefix(trace_file), *argv]


@dataclass(frozen=True, slots=True)
class Call:
    """One completed (or interrupted) traced call.

    ``paths`` are absolute where strace let them be resolved (the fd's file for fd
    calls; for path calls, the path joined to its dirfd's or the process's known cwd),
    in argument order (a rename: old, then new). ``data`` is what a write wrote: the
    first ``ret`` bytes of its buffer, or all of it when ``ret`` is None (``truncated``
    when strace cut the buffer short). ``pid`` is the thread that made the call (what
    strace prints, and what its inject counters count by); ``proc`` the process it
    belongs to (its thread group id; left 0 it is ``pid``, a single-threaded process).
    """

    line: int  # 1-based line of the trace where the call completed
    pid: int  # the thread (strace -f's "pid")
    ts: float | None
    syscall: str
    paths: tuple[str, ...]
    fd: int | None = None
    flags: int | None = None
    offset: int | None = None
    length: int | None = None
    data: bytes | None = None
    truncated: bool = False
    ret: int | None = None  # None: '?' (the process died in the call, or strace could not tell)
    errno: str | None = None
    proc: int = 0  # the process (thread group id): 0 means pid's own

    def __post_init__(self) -> None:
        if self.proc <= 0:
            object.__setattr__(self, "proc", self.pid)

    @property
    def failed(self) -> bool:
        return self.errno is not None or (self.ret is not None and self.ret < 0)


_LINE = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)\]?\s+(?:(?P<ts>\d+(?:\.\d+)?)\s+)?(?P<body>.*)$")
_START = re.compile(r"^(?P<name>[a-z_0-9]+)\((?P<rest>.*)$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z_0-9]+) resumed>(?P<rest>.*)$")
_RETURN = re.compile(r"^=\s+(?P<ret>-?\d+|0x[0-9a-fA-F]+|\?)(?:<(?P<path>[^>]*)>)?"
                     r"(?:\s+(?P<errno>E[A-Z0-9_]+)\b)?.*$")
_FD = re.compile(r"^(?P<fd>-?\d+)<(?P<path>.*)>$")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92, "'": 39}
_UNFINISHED = " <unfinished ...>"


_ALL_HEX = re.compile(r"(?:\\x[0-9a-fA-F]{2})*")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _decode(text: str) -> bytes:
    """strace's C-style escaped string body (no quotes) as bytes."""
    if _ALL_HEX.fullmatch(text):  # what -xx writes: every byte as \xNN, decoded at C speed
        return bytes.fromhex(text.replace("\\x", ""))
    out, i = bytearray(), 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
        elif text[i + 1:i + 2] == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif text[i + 1:i + 2].isdigit():
            m = re.match(r"[0-7]{1,3}", text[i + 1:])
            assert m is not None
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
        else:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
    return bytes(out)


def _split(text: str) -> tuple[list[str], str]:
    """Split 'a, "b,c", [x, y]) = 3 ...' into top-level args and what follows ')'."""
    args: list[str] = []
    depth, start, i = 0, 0, 0
    closers = {"(": ")", "[": "]", "{": "}"}
    while i < len(text):
        ch = text[i]
        if ch == '"':  # a whole quoted string, to its closing quote, in one match
            quoted = _QUOTED.match(text, i)
            if quoted is None:
                raise IndexError("an unterminated string")
            i = quoted.end() - 1
        elif ch == "<":
            i = text.index(">", i)
        elif ch in closers:
            depth += 1
        elif ch in ")]}" and depth:
            depth -= 1
        elif ch == ")":
            last = text[start:i].strip()
            return ([*args, last] if last or args else args), text[i + 1:].strip()
        elif ch == "," and not depth:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    raise ValueError("no closing parenthesis")


def _strings(arg: str) -> tuple[bytes, bool]:
    """Every quoted string in arg, concatenated (writev's iov_base fields), and whether
    strace cut any of them ('"..."...')."""
    data, cut = bytearray(), False
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?', arg):
        data += _decode(m.group(1))
        cut = cut or m.group(2) is not None
    return bytes(data), cut


def _int(arg: str) -> int:
    m = _FD.match(arg)
    text = m.group("fd") if m else arg
    return int(text, 0) if not text.startswith("-") else -int(text[1:], 0)


# Where each call's arguments are: fd, (dirfd, path) pairs, flags, offset, length, data.
_FD_CALLS = {"write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync",
             "sync_file_range", "ftruncate"}
_PATHS: dict[str, tuple[tuple[int | None, int], ...]] = {
    "open": ((None, 0),), "creat": ((None, 0),), "truncate": ((None, 0),),
    "unlink": ((None, 0),), "mkdir": ((None, 0),), "openat": ((0, 1),), "openat2": ((0, 1),),
    "unlinkat": ((0, 1),), "mkdirat": ((0, 1),), "rename": ((None, 0), (None, 1)),
    "link": ((None, 0), (None, 1)), "renameat": ((0, 1), (2, 3)), "renameat2": ((0, 1), (2, 3)),
    "linkat": ((0, 1), (2, 3)),
}
_FLAGS = {"open": 1, "openat": 2, "unlinkat": 2, "renameat2": 4, "linkat": 4,
          "sync_file_range": 3, "pwritev2": 4}
_OFFSET = {"pwrite64": 3, "pwritev": 3, "pwritev2": 3, "sync_file_range": 1}
_LENGTH = {"truncate": 1, "ftruncate": 1, "sync_file_range": 2}


@dataclass(frozen=True, slots=True)
class _Raw:
    line: int
    pid: int
    ts: float | None
    name: str
    text: str  # everything after 'NAME('


def _resolve(path: bytes, base: str | None) -> str:
    name = path.decode("utf-8", "surrogateescape")
    if posixpath.isabs(name) or base is None:
        return posixpath.normpath(name) if name else name
    return posixpath.normpath(posixpath.join(base, name))


def _fd_path(arg: str) -> str | None:
    m = _FD.match(arg)
    return _decode(m.group("path")).decode("utf-8", "surrogateescape") if m else None


def _flags(name: str, args: list[str]) -> int | None:
    if name == "creat":
        return O_CREAT | O_WRONLY | O_TRUNC
    if name == "openat2":
        m = re.search(r"flags=(0x[0-9a-fA-F]+|\d+)", args[2])
        return int(m.group(1), 0) if m else None
    pos = _FLAGS.get(name)
    return _int(args[pos]) if pos is not None and pos < len(args) else None


@dataclass(frozen=True, slots=True)
class _Procs:
    """Which process each thread of the trace belongs to, from its clone calls."""

    group: dict[int, int]  # thread -> its process's id (absent: a process of its own)
    parent: dict[int, int]  # process -> the process that made it

    def of(self, tid: int) -> int:
        return self.group.get(tid, tid)

    def cwd(self, proc: int, known: dict[int, str]) -> str | None:
        """proc's cwd: the last one it named, else (a child that has named none yet) the
        one its maker named: a fork inherits its maker's cwd."""
        for _ in range(len(self.parent) + 1):
            if proc in known or proc not in self.parent:
                break
            proc = self.parent[proc]
        return known.get(proc)


def _clone_flags(name: str, args: list[str]) -> int:
    """The clone flags a clone or clone3 was called with (0 for fork and vfork)."""
    if name not in ("clone", "clone3"):
        return 0
    text = ", ".join(args)
    m = re.search(r"\bflags=(0x[0-9a-fA-F]+|\d+)", text)
    flags = int(m.group(1), 0) if m else 0
    return flags | (CLONE_THREAD if "CLONE_THREAD" in text else 0)  # without -X raw


def _processes(done: list[tuple[_Raw, str]], lines: list[str]) -> _Procs:
    """Each traced thread's process: a clone with CLONE_THREAD adds a thread to its
    caller's process; any other clone, fork or vfork makes a process."""
    made: dict[int, tuple[int, bool]] = {}  # child -> (the thread that made it, a thread?)
    for raw, text in done:
        if raw.name not in FORKS:
            continue
        try:
            args, after = _split(text)
        except (ValueError, IndexError) as exc:
            raise _unreadable(raw, lines, exc) from None
        m = _RETURN.match(after)
        if m is None or m.group("ret") == "?" or int(m.group("ret"), 0) <= 0:
            continue  # failed, or died in the call: nothing was made
        made[int(m.group("ret"), 0)] = (raw.pid, bool(_clone_flags(raw.name, args) & CLONE_THREAD))

    def leader(tid: int) -> int:  # walk up through thread creations to the group's leader
        for _ in range(len(made) + 1):
            if tid not in made or not made[tid][1]:
                break
            tid = made[tid][0]
        return tid

    group = {child: leader(child) for child in made}
    parent = {child: leader(maker) for child, (maker, thread) in made.items() if not thread}
    return _Procs(group, parent)


def _build(raw: _Raw, args: list[str], after: str, cwd: dict[int, str], procs: _Procs) -> Call:
    name = raw.name
    proc = procs.of(raw.pid)
    for arg in args:  # AT_FDCWD is printed with the cwd under -y: remember it
        if arg.startswith("-100<"):
            cwd[proc] = _fd_path(arg) or cwd.get(proc, "")
    m = _RETURN.match(after)
    if m is None:
        raise ValueError(f"unreadable return {after!r}")
    ret = None if m.group("ret") == "?" else int(m.group("ret"), 0)
    paths: list[str] = []
    fd = None
    if name in _FD_CALLS:
        fd = _int(args[0])
        paths.append(_fd_path(args[0]) or "")
    if name not in _FD_CALLS and name not in _PATHS:  # another call: its fds' files
        paths += [p for a in args if not a.startswith("-100<") and (p := _fd_path(a))]
    for dir_pos, path_pos in _PATHS.get(name, ()):
        base = _fd_path(args[dir_pos]) if dir_pos is not None else procs.cwd(proc, cwd)
        paths.append(_resolve(_strings(args[path_pos])[0], base))
    data, cut = None, False
    if name in ("write", "pwrite64", "writev", "pwritev", "pwritev2"):
        buf, cut = _strings(args[1])
        data = buf if ret is None else buf[:max(ret, 0)]  # unknown outcome: what it meant
        cut = cut and (ret is None or ret > len(buf))
    pick = {key: _int(args[pos]) for key, table in (("offset", _OFFSET), ("length", _LENGTH))
            if (pos := table.get(name)) is not None and pos < len(args)}
    return Call(line=raw.line, pid=raw.pid, ts=raw.ts, syscall=name, paths=tuple(paths),
                fd=fd, flags=_flags(name, args), offset=pick.get("offset"),
                length=pick.get("length"), data=data, truncated=cut, ret=ret,
                errno=m.group("errno"), proc=proc)


def _unreadable(raw: _Raw, lines: list[str], exc: Exception) -> TraceError:
    return TraceError(f"strace output line {raw.line}: cannot read {lines[raw.line - 1]!r}: {exc}")


def parse_trace(text: str) -> list[Call]:
    """The traced calls in text (strace -f -o output), in the order they completed.

    Two passes: the lines are read and split calls joined first; each call is built
    once every clone in the trace is known, so that it carries its process."""
    lines = text.splitlines()
    done: list[tuple[_Raw, str]] = []  # each completed call and its whole text, in order
    pending: dict[int, _Raw] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            _read_line(n, line, done, pending)
        except (ValueError, IndexError, KeyError) as exc:
            raise TraceError(f"strace output line {n}: cannot read {line!r}: {exc}") from None
    for raw in sorted(pending.values(), key=lambda r: r.line):  # cut off: trace ended
        done.append((raw, raw.text + ") = ?"))
    procs = _processes(done, lines)
    calls: list[Call] = []
    cwd: dict[int, str] = {}  # process -> its cwd, as its last AT_FDCWD argument named it
    for raw, whole in done:
        try:
            args, after = _split(whole)
            calls.append(_build(raw, args, after, cwd, procs))
        except (ValueError, IndexError, KeyError) as exc:
            raise _unreadable(raw, lines, exc) from None
    return calls


def _read_line(n: int, line: str, done: list[tuple[_Raw, str]], pending: dict[int, _Raw]) -> None:
    """Read one line: a completed call goes to done (with its whole argument text), a
    started one waits in pending for its '<... NAME resumed>'."""
    m = _LINE.match(line)
    if m is None:
        raise ValueError("no pid")
    pid, body = int(m.group("pid")), m.group("body")
    ts = float(m.group("ts")) if m.group("ts") else None
    if body.startswith(("---", "+++")):  # a signal, or the process exited
        if body.startswith("+++") and pid in pending:  # died inside a call
            raw = pending.pop(pid)
            done.append((raw, raw.text + ") = ?"))
        return
    resumed = _RESUMED.match(body)
    if resumed:
        started = pending.pop(pid, None)
        if started is None or started.name != resumed.group("name"):
            raise ValueError("resumed call that was not started")
        rest = resumed.group("rest")
        if rest.startswith(_UNFINISHED):  # '<... fsync resumed> <unfinished ...>) = ?'
            rest = rest[len(_UNFINISHED):]
        done.append((_Raw(n, pid, started.ts, started.name, started.text), started.text + rest))
        return
    start = _START.match(body)
    if start is None:
        raise ValueError("not a call, signal or exit")
    raw = _Raw(n, pid, ts, start.group("name"), start.group("rest"))
    if raw.text.endswith(_UNFINISHED):
        pending[pid] = _Raw(n, pid, ts, raw.name, raw.text[: -len(_UNFINISHED)])
    else:
        done.append((raw, raw.text))
