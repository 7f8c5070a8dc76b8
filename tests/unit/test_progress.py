"""Unit tests for the run's progress: a rich bar with a line per worker on a terminal,
plain counted lines without one, whatever order cells start and finish in."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

from rich.console import Console

from harness.cells import CellKey, CellSpec
from harness.model import Candidate, CellResult, CheckResult, Outcome, Scenario, Severity
from harness.progress import Progress, cell_line, hms

CAND = Candidate("reference", "python", "", ("engine",), frozenset(), Path("/nonexistent"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(scenario: str, trial: int = 0) -> CellSpec:
    return CellSpec(CAND, Scenario(scenario, "", "proc", {}, {}, (), Path("/nonexistent")), 1,
                    trial, "fake", CellKey("c" * 64, scenario, 1, trial, "fake"),
                    f"harness score reference --scenario {scenario}")


def result(s: CellSpec, *outcomes: Outcome, infra: str = "", **extra: object) -> CellResult:
    checks = tuple(CheckResult(f"log.check_{n}", "durable_log", Severity.MAJOR, o)
                   for n, o in enumerate(outcomes))
    return CellResult(CAND.name, s.scenario.name, s.seed, "fake", checks, s.reproduce, 2.25,
                      infra_error=infra, extra=extra, trial=s.trial, key=s.key)


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, color_system=None, width=120), buf


def last_frame(buf: io.StringIO) -> str:
    """What a terminal shows at the end: the bar's last drawing."""
    return ANSI.sub("", buf.getvalue().split("\x1b[2K")[-1]).strip()


def test_without_a_terminal_each_finished_cell_is_one_counted_plain_line() -> None:
    con, buf = console(False)
    a, b, c = spec("torn-tail"), spec("crash-loop"), spec("invalid-workflow")
    with Progress(total=5, already_done=2, workers=2, console=con) as p:
        p.started(a, "w1")
        p.started(b, "w2")
        p.finished(result(b, Outcome.FAIL, Outcome.NOT_EXERCISED))  # not in the order started
        p.note("worker w1 died mid-cell: retried")
        p.started(a, "w2")
        p.finished(result(a, Outcome.PASS, infra="", sandbox={"limits_hit": {"pids": 3}}))
        p.finished(result(c, Outcome.INFRA_ERROR, infra="the daemon went away"))
    assert buf.getvalue().splitlines() == [
        "[3/5]  FAIL (1 not exercised) reference / crash-loop (2.2 s): log.check_0",
        "worker w1 died mid-cell: retried",
        "[4/5]  ok reference / torn-tail (2.2 s) limits hit: pids=3",
        "[5/5]  INFRA reference / invalid-workflow (2.2 s) the daemon went away"]
    assert (p.done, p.failed, p.infra) == (5, 1, 1)


def test_the_plain_line_is_the_one_the_cli_printed_before() -> None:
    cell = result(spec("torn-tail"), *[Outcome.FAIL] * 5, cell_limit="cell limit 300 s hit")
    line = ("  FAIL reference / torn-tail (2.2 s): log.check_0, log.check_1, log.check_2,"
            " log.check_3 ... cell limit 300 s hit")
    con, _ = console(False)
    assert con.render_str(cell_line(cell)).plain == line


def test_on_a_terminal_a_bar_counts_cells_and_shows_the_cell_on_each_worker() -> None:
    clock = Clock()
    con, buf = console(True)
    a, b, c = spec("torn-tail"), spec("crash-loop"), spec("invalid-workflow")
    with Progress(total=5, already_done=2, workers=2, console=con, clock=clock) as p:
        p.started(a, "w2")
        p.started(b, "w10")
        clock.now += 12
        p.refresh()
        frame = last_frame(buf)
        assert "cells on 2 workers (2 done before)" in frame and "2/5" in frame
        assert "0 failed" in frame and "0 infra" in frame and "ETA --:--:--" in frame
        assert frame.splitlines()[1:] == ["worker w2: reference / torn-tail (12 s)",
                                          "worker w10: reference / crash-loop (12 s)"]
        p.finished(result(b, Outcome.FAIL))
        p.started(c, "w10")
        clock.now += 5
        p.refresh()
        frame = last_frame(buf)
        assert "3/5" in frame and "1 failed" in frame
        assert "ETA 0:00:34" in frame  # 1 cell in 17 s this run; the 2 from before not counted
        assert frame.splitlines()[1:] == ["worker w2: reference / torn-tail (17 s)",
                                          "worker w10: reference / invalid-workflow (5 s)"]
        p.finished(result(a, Outcome.INFRA_ERROR, infra="the daemon went away"))
        p.refresh()
        assert last_frame(buf).splitlines()[1:] == [
            "worker w2: idle", "worker w10: reference / invalid-workflow (5 s)"]
        p.note("a note")
    text = ANSI.sub("", buf.getvalue())
    assert "[3/5]  FAIL reference / crash-loop (2.2 s): log.check_0" in text
    assert "[4/5]  INFRA reference / torn-tail" in text and "a note" in text
    final = last_frame(buf)
    assert "4/5" in final and "1 failed" in final and "1 infra" in final
    assert len(final.splitlines()) == 1  # the last frame keeps the totals, not the workers


def test_a_cell_retried_on_another_worker_leaves_the_first_idle() -> None:
    con, _ = console(True)
    a = spec("torn-tail")
    with Progress(total=1, console=con) as p:
        p.started(a, "w1")
        p.started(a, "w2")
        assert [line.split(" (")[0] for line in p.worker_lines()] == [
            "worker w1: idle", "worker w2: reference / torn-tail"]
        p.finished(result(a, Outcome.PASS))
        assert p.worker_lines() == ["worker w1: idle", "worker w2: idle"]


def test_more_cells_than_planned_or_unknown_ones_never_break_it() -> None:
    for terminal in (True, False):
        con, buf = console(terminal)
        with Progress(total=1, already_done=1, console=con) as p:
            p.finished(result(spec("never-started", trial=3), Outcome.PASS))
            p.finished(result(spec("never-started", trial=4), Outcome.PASS))
        assert (p.done, p.total) == (3, 3)
        assert "[3/3]  ok reference / never-started" in ANSI.sub("", buf.getvalue())


def test_cells_may_start_and_finish_from_many_threads() -> None:
    con, buf = console(True)
    specs = [spec(f"s{n}") for n in range(40)]
    with Progress(total=len(specs), workers=4, console=con) as p:
        def work(part: list[CellSpec], worker: str) -> None:
            for s in part:
                p.started(s, worker)
                p.finished(result(s, Outcome.PASS))

        threads = [threading.Thread(target=work, args=(specs[n::4], f"w{n}")) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert (p.done, p.failed) == (40, 0)
    assert "40/40" in last_frame(buf)


def test_hms() -> None:
    assert [hms(x) for x in (0, 59.6, 3599, 3600 * 25 + 61)] == [
        "0:00:00", "0:01:00", "0:59:59", "25:01:01"]
