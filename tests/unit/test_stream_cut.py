"""What the evidence says of an engine's output that the runner cut (harness.checks.common)."""

from __future__ import annotations

from harness.checks.common import cut_note, exit_evidence, size_text, stderr_text
from harness.layout import STREAM_CAP
from harness.observe import Cut, Invocation
from harness.runners.base import stream_cut

GIB, MIB = 1 << 30, 1 << 20


def inv(stderr: bytes = b"boom\n", out: Cut | None = None, err: Cut | None = None) -> Invocation:
    return Invocation("run 1", ("run",), 3, 0.0, 1.0, stderr=stderr, stdout_cut=out,
                      stderr_cut=err)


def test_sizes_read_as_people_read_them() -> None:
    assert size_text(STREAM_CAP) == "4 MiB"
    assert size_text(int(3.1 * GIB)) == "3.1 GiB"
    assert size_text(512) == "512 bytes"
    assert size_text(1536) == "1.5 KiB"


def test_the_reported_sizes_make_a_cut_only_when_bytes_were_dropped() -> None:
    assert stream_cut(["100", "100"]) is None
    assert stream_cut([5 * MIB, STREAM_CAP]) == Cut(5 * MIB, STREAM_CAP)


def test_evidence_says_the_cut_beside_the_stderr() -> None:
    flood = inv(out=Cut(int(3.1 * GIB), STREAM_CAP))
    seen = exit_evidence(flood, "exit 0").seen
    assert seen == ("exit 3; stderr: boom (the engine wrote 3.1 GiB to stdout; the harness"
                    " kept the first 4 MiB (the cap) and dropped the rest)")


def test_both_streams_and_a_full_cell_are_said() -> None:
    note = cut_note(inv(out=Cut(200 * MIB, STREAM_CAP), err=Cut(48, 0)))
    assert note == ("the engine wrote 200 MiB to stdout; the harness kept the first 4 MiB"
                    " (the cap) and dropped the rest; the engine wrote 48 bytes to stderr;"
                    " the harness dropped it all, as the cell's space was full")
    assert cut_note(inv(err=Cut(3 * MIB, MIB))) == (
        "the engine wrote 3 MiB to stderr; the harness kept the first 1 MiB and dropped the"
        " rest, as the cell's space was full")
    assert stderr_text(inv(stderr=b"", err=Cut(48, 0))).startswith("(empty) (the engine wrote")


def test_nothing_is_said_when_nothing_was_cut() -> None:
    assert cut_note(inv()) == ""
    assert stderr_text(inv()) == stderr_text(b"boom\n") == "boom"
