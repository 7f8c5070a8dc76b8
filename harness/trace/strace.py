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
    when strace cut the buffer short).
    """

    line: int  # 1-based line of the trace where the call completed
    pid: int
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


def _build(raw: _Raw, args: list[str], after: str, cwd: dict[int, str]) -> Call:
    name = raw.name
    for arg in args:  # AT_FDCWD is printed with the cwd under -y: remember it
        if arg.startswith("-100<"):
            cwd[raw.pid] = _fd_path(arg) or cwd.get(raw.pid, "")
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
        base = _fd_path(args[dir_pos]) if dir_pos is not None else cwd.get(raw.pid)
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
                errno=m.group("errno"))


def _finish(raw: _Raw, text: str, cwd: dict[int, str]) -> Call:
    args, after = _split(text)
    return _build(raw, args, after, cwd)


def parse_trace(text: str) -> list[Call]:
    """The traced calls in text (strace -f -o output), in the order they completed."""
    calls: list[Call] = []
    pending: dict[int, _Raw] = {}
    cwd: dict[int, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            _parse_line(n, line, calls, pending, cwd)
        except (ValueError, IndexError, KeyError) as exc:
            raise TraceError(f"strace output line {n}: cannot read {line!r}: {exc}") from None
    for raw in sorted(pending.values(), key=lambda r: r.line):  # cut off: trace ended
        calls.append(_finish(raw, raw.text + ") = ?", cwd))
    return calls


def _parse_line(n: int, line: str, calls: list[Call], pending: dict[int, _Raw],
                cwd: dict[int, str]) -> None:
    m = _LINE.match(line)
    if m is None:
        raise ValueError("no pid")
    pid, body = int(m.group("pid")), m.group("body")
    ts = float(m.group("ts")) if m.group("ts") else None
    if body.startswith(("---", "+++")):  # a signal, or the process exited
        if body.startswith("+++") and pid in pending:  # died inside a call
            raw = pending.pop(pid)
            calls.append(_finish(raw, raw.text + ") = ?", cwd))
        return
    resumed = _RESUMED.match(body)
    if resumed:
        started = pending.pop(pid, None)
        if started is None or started.name != resumed.group("name"):
            raise ValueError("resumed call that was not started")
        raw = started
        rest = resumed.group("rest")
        if rest.startswith(_UNFINISHED):  # '<... fsync resumed> <unfinished ...>) = ?'
            rest = rest[len(_UNFINISHED):]
        calls.append(_finish(_Raw(n, pid, raw.ts, raw.name, raw.text), raw.text + rest, cwd))
        return
    start = _START.match(body)
    if start is None:
        raise ValueError("not a call, signal or exit")
    raw = _Raw(n, pid, ts, start.group("name"), start.group("rest"))
    if raw.text.endswith(_UNFINISHED):
        pending[pid] = _Raw(n, pid, ts, raw.name, raw.text[: -len(_UNFINISHED)])
    else:
        calls.append(_finish(raw, raw.text, cwd))
