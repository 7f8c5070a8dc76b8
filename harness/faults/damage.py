"""Byte-level damage to an event log: tearing the tail and corrupting a middle line.

Pure functions over bytes, so every damaged log is reproducible from its inputs. A
corruption is only returned when the harness itself confirms that the damaged line no
longer parses as a JSON object: a "corruption" that happens to stay valid JSON would
make the contract's demand (exit 3) wrong.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

CORRUPTIONS = ("garbage_byte", "cut_short", "inserted_line")


@dataclass(frozen=True, slots=True)
class Corruption:
    data: bytes
    line_number: int  # 1-based line that is now damaged
    kind: str
    description: str


def tear(log: bytes, keep: int) -> bytes:
    """The log with its last complete line cut to its first `keep` bytes, no newline."""
    body = log[: log.rfind(b"\n") + 1]
    start = body.rfind(b"\n", 0, len(body) - 1) + 1
    line = body[start:-1]
    if not 0 < keep <= len(line):
        raise ValueError(f"keep must be 1..{len(line)}, got {keep}")
    return body[:start] + line[:keep]


def last_line_length(log: bytes) -> int:
    body = log[: log.rfind(b"\n") + 1]
    start = body.rfind(b"\n", 0, len(body) - 1) + 1
    return max(0, len(body) - start - 1)


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def corrupt(log: bytes, rng: random.Random, kind: str) -> Corruption:
    """Damage a line that is not the last complete one; needs at least two lines."""
    lines = log[: log.rfind(b"\n") + 1].split(b"\n")[:-1]
    if len(lines) < 2:
        raise ValueError("corrupting a middle line needs a log of at least two lines")
    index = rng.randrange(len(lines) - 1)
    line = lines[index]
    if kind == "garbage_byte":
        pos = rng.randrange(len(line))
        new = line[:pos] + b"\x00}{" + line[pos + 1 :]
        desc = f"line {index + 1}: byte {pos} replaced by '\\x00}}{{'"
    elif kind == "cut_short":
        cut = rng.randrange(1, max(2, len(line) - 1))
        new = line[:cut]
        desc = f"line {index + 1}: cut to its first {cut} bytes, newline kept"
    elif kind == "inserted_line":
        new = b"#garbage " + bytes(rng.randrange(97, 123) for _ in range(12))
        lines.insert(index, new)
        desc = f"line {index + 1}: a non-JSON line inserted before the old line {index + 1}"
        return Corruption(b"\n".join(lines) + b"\n", index + 1, kind, desc)
    else:
        raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(CORRUPTIONS)}")
    if _parses(new):  # cannot happen for these edits, but the demand depends on it
        raise ValueError(f"corruption left valid JSON: {desc}")
    lines[index] = new
    return Corruption(b"\n".join(lines) + b"\n", index + 1, kind, desc)
