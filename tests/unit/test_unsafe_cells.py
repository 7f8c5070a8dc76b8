"""Scenarios over cells whose log is unsafe or huge, on a FakeRunner (no processes).

The log-damaging procedures stop cleanly on a link, a FIFO or a log over its cap: the
decoy is untouched, files.regular fails naming the file, nothing hangs. A last line
too long to tear at every byte gets a seeded sample of offsets, said in the facts.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from harness import api, layout
from harness.checks import run_check
from harness.faults import logfaults
from harness.faults.inject import Watcher, read_log
from harness.faults.procedures import new_ctx, observe, run_procedure
from harness.model import Candidate, CellResult, Outcome
from harness.observe import Observation
from harness.runners.fake import FakeCell, FakeRunner
from harness.safefs import LOG_CAP

CAND = Candidate("fake", "none", "", ("engine",), frozenset(), Path("/nonexistent"))
SECRET = b"root:x:0:0:DECOY-SECRET:/root:/bin/bash\n"
Handler = Callable[[Sequence[str], FakeCell], tuple[int, bytes, bytes]]


def run(scenario: str, handler: Handler, seconds: float = 60.0) -> tuple[Observation, CellResult]:
    """What the cell observed and its result, failing the test if the harness does not
    finish in time (a FIFO once made it wait forever)."""
    box: dict[str, tuple[Observation, CellResult]] = {}
    sc = api.all_scenarios(pattern=scenario)[0]

    def cell() -> None:
        c = FakeRunner(handler).open_cell(CAND, scenario)
        try:
            ctx = new_ctx(c, sc, seed=2)
            run_procedure(ctx)
            obs = observe(ctx)
        finally:
            c.close()
        results = tuple(run_check(spec, obs) for spec in sc.checks)
        box["r"] = obs, CellResult("fake", scenario, 2, "fake", results, "", 0.0)

    t = threading.Thread(target=cell, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"the harness did not finish {scenario} in {seconds} s"
    return box["r"]


def log_lines(last_line_bytes: int) -> bytes:
    first = json.dumps({"seq": 1, "type": "WORKFLOW_STARTED"}).encode() + b"\n"
    pad = last_line_bytes - len(b'{"seq": 2, "pad": ""}')
    return first + b'{"seq": 2, "pad": "' + b"y" * pad + b'"}\n'


def writes_log(data: bytes) -> Handler:
    def handler(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
        if args[0] == "run":
            state = Path(args[2])
            state.mkdir(parents=True, exist_ok=True)
            if not (state / "events.jsonl").exists():
                (state / "events.jsonl").write_bytes(data)
        return 0, b"{}", b""
    return handler


def plants(make: Callable[[Path], None]) -> Handler:
    def handler(args: Sequence[str], cell: FakeCell) -> tuple[int, bytes, bytes]:
        if args[0] == "run":
            state = Path(args[2])
            state.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(state / "events.jsonl"):
                make(state / "events.jsonl")
        return 0, b"{}", b""
    return handler


def by_check(cell: CellResult) -> dict[str, object]:
    return {r.check: r for r in cell.results}


def test_a_sane_last_line_is_torn_at_every_byte() -> None:
    obs, _ = run("torn-tail", writes_log(log_lines(40)))
    assert [v.facts["keep"] for v in obs.variants] == list(range(1, 41))
    assert "offsets_sampled" not in obs.facts


def test_a_huge_last_line_is_torn_at_a_seeded_sample() -> None:
    length = logfaults.TORN_ALL_MAX * 3
    obs, _ = run("torn-tail", writes_log(log_lines(length)))
    keeps = [v.facts["keep"] for v in obs.variants]
    assert len(keeps) == logfaults.TORN_SAMPLE and keeps[0] == 1 and keeps[-1] == length
    assert f"the last line is {length} bytes" in obs.facts["offsets_sampled"]
    runs = [v for v in obs.variants if len(v.invocations) == 2]
    assert runs and {1, length} <= {v.facts["keep"] for v in runs}


@pytest.mark.parametrize("scenario", ["torn-tail", "corrupt-middle"])
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_an_unsafe_log_stops_the_damage_and_fails_files_regular(
        tmp_path: Path, scenario: str, kind: str) -> None:
    decoy = tmp_path / "passwd"
    decoy.write_bytes(SECRET)
    make = (lambda p: os.symlink(decoy, p)) if kind == "symlink" else os.mkfifo
    obs, cell = run(scenario, plants(make))
    result = by_check(cell)["files.regular"]
    assert result.outcome is Outcome.FAIL  # type: ignore[attr-defined]
    seen = [e.seen for e in result.evidence]  # type: ignore[attr-defined]
    want = (f"{layout.LOG} is a symlink to {decoy}" if kind == "symlink"
            else f"{layout.LOG} is a FIFO")
    assert want in seen and "stopped" in obs.facts and not obs.variants
    assert decoy.read_bytes() == SECRET
    text = json.dumps([[e.to_json() for e in r.evidence] for r in cell.results])
    assert "DECOY-SECRET" not in text


def test_a_big_log_is_torn_at_a_sample_its_memory_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfaults, "TORN_BYTES", 4 << 20)  # the same rule, a smaller log
    big = log_lines(100) * 8000  # ~1 MiB, under the cap: 100 offsets would hold 100 MiB
    obs, _ = run("torn-tail", writes_log(big))
    assert 2 <= len(obs.variants) <= logfaults.TORN_BYTES // len(big)
    assert "offsets_sampled" in obs.facts and not obs.hazards
    held = {id(b): len(b) for v in obs.variants for i in v.invocations
            for b in (i.log_before, i.log_after, v.facts["torn"]) if b is not None}
    assert sum(held.values()) <= 2 * logfaults.TORN_BYTES  # each distinct log held once


def test_a_log_over_its_cap_is_named_and_not_damaged() -> None:
    big = log_lines(100) * (LOG_CAP // 100)
    obs, cell = run("torn-tail", writes_log(big))
    seen = [e.seen for e in by_check(cell)["files.regular"].evidence]  # type: ignore[attr-defined]
    assert any(f"over the {LOG_CAP >> 20} MiB cap" in s for s in seen), seen
    assert not obs.variants and len(obs.final_log) == LOG_CAP


def test_a_linked_state_dir_is_not_watched_through(tmp_path: Path) -> None:
    """inotify would follow the link to the host folder and report its file names."""
    host = tmp_path / "host"
    (host / "outputs").mkdir(parents=True)
    c = FakeRunner(writes_log(b"")).open_cell(CAND, "watch")
    try:
        os.symlink(host, c.root / layout.STATE)
        watcher = Watcher(c)
        (host / "outputs" / "one").write_bytes(b"host file")
        (host / "events.jsonl").write_bytes(SECRET)
        watcher.tick()
        watcher.close()
        assert watcher.appearances == {} and watcher.publications == []
        assert watcher.files.hazards == (f"{layout.STATE} is a symlink to {host}",)
        assert read_log(watcher.files) is None
    finally:
        c.close()
    assert (host / "events.jsonl").read_bytes() == SECRET


def test_a_real_state_dir_made_later_is_watched(tmp_path: Path) -> None:
    c = FakeRunner(writes_log(b"")).open_cell(CAND, "watch")
    try:
        watcher = Watcher(c)
        (c.root / layout.OUTPUTS).mkdir(parents=True)
        watcher.tick()
        (c.root / layout.OUTPUTS / "one").write_bytes(b"1")
        watcher.tick()
        watcher.close()
        assert watcher.appearances == {"one": 1} and watcher.files.hazards == ()
    finally:
        c.close()


def test_write_sessions_count_rewrites_in_place_not_chunks(tmp_path: Path) -> None:
    """One file written in many chunks is one session; truncated and written again over
    the same inode, a second; opened for writing and closed untouched, none."""
    c = FakeRunner(writes_log(b"")).open_cell(CAND, "watch")
    try:
        (c.root / layout.OUTPUTS).mkdir(parents=True)
        watcher = Watcher(c)
        path = c.root / layout.OUTPUTS / "one"
        with open(path, "wb") as f:
            for _ in range(8):
                f.write(b"x" * 4096)
                f.flush()
        watcher.tick()
        with open(path, "r+b"):
            pass
        watcher.tick()
        assert watcher.sessions() == {"one": 1}
        with open(path, "wb") as f:
            f.write(b"y")
        with open(c.root / layout.OUTPUTS / "two", "wb") as g:
            g.write(b"z")  # still open when the watch ends: a session all the same
            g.flush()
            watcher.tick()
            watcher.close()
        assert watcher.sessions() == {"one": 2, "two": 1} and watcher.appearances["one"] == 1
    finally:
        c.close()
