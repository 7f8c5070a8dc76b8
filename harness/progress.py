"""Progress of a scoring run that people can read, on a terminal and in CI logs alike.

On a terminal: one `rich` progress bar over every cell of the run (done / total, the
cells with a failed check so far, the infrastructure errors so far, an ETA from this
run's own pace), and below it one line per worker with the cell in flight on it. Each
finished cell is also printed above the bar, so the scrollback keeps the whole run.
Without a terminal (CI, a pipe): no bar and no cursor movement, only one plain line per
finished cell, led by a counter such as `[12/42]`.

Cells may finish in any order, and a resumed run counts the cells already done from
the start (they are done, but they say nothing about this run's pace, so the ETA leaves
them out). `started` may be called from executor threads: the state is kept under a lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

import rich.progress as rp
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.text import Text

from harness.cells import CellSpec
from harness.model import CellResult, Outcome

Clock = Callable[[], float]


def cell_line(cell: CellResult) -> str:
    """A finished cell as one line of rich markup: ok, FAIL or INFRA, what failed, how
    long it took, and any limit it ran into."""
    failed = [r for r in cell.results if r.outcome is Outcome.FAIL]
    infra = [r for r in cell.results if r.outcome is Outcome.INFRA_ERROR]
    unexercised = [r for r in cell.results if r.outcome is Outcome.NOT_EXERCISED]
    mark = "[red]FAIL[/]" if failed else ("[yellow]INFRA[/]" if infra else "[green]ok[/]")
    if unexercised:
        mark += f" [dim]({len(unexercised)} not exercised)[/]"
    names = ", ".join(r.check for r in failed[:4]) + (" ..." if len(failed) > 4 else "")
    limits = ", ".join(f"{k}={v}" for k, v in cell.extra.get("sandbox", {}).get("limits_hit", {}).items())
    trial = f" trial {cell.trial}" if cell.trial else ""  # trial 0 reads as a one-trial run
    return (f"  {mark} {cell.candidate} / {cell.scenario}{trial} ({cell.duration_s:.1f} s)"
            + (f": {names}" if names else "")
            + (f" [yellow]{cell.infra_error}[/]" if cell.infra_error else "")
            + (f" [magenta]limits hit: {limits}[/]" if limits else "")
            + (f" [magenta]{cell.extra['cell_limit']}[/]" if cell.extra.get("cell_limit") else ""))


def failed(cell: CellResult) -> bool:
    return any(r.outcome is Outcome.FAIL for r in cell.results)


def broken(cell: CellResult) -> bool:
    """The harness or the machine broke in this cell (never the candidate's fault)."""
    return bool(cell.infra_error) or any(r.outcome is Outcome.INFRA_ERROR for r in cell.results)


def identity(cell: CellResult | CellSpec) -> object:
    """What ties a finished cell to the spec that started it: its key, once planned."""
    if cell.key is not None:
        return cell.key
    if isinstance(cell, CellSpec):
        return (cell.candidate.name, cell.scenario.name, cell.seed, cell.trial)
    return (cell.candidate, cell.scenario, cell.seed, cell.trial)


def hms(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def natural(label: str) -> list[object]:
    """Sort key under which worker w2 comes before worker w10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", label)]


class EtaColumn(rp.ProgressColumn):
    """Time left at this run's own pace: cells done before it started are left out."""

    def render(self, task: rp.Task) -> Text:
        if task.finished:
            return Text("done", style="progress.remaining")
        ran = task.completed - float(task.fields.get("before", 0))
        elapsed = task.elapsed
        if ran <= 0 or not elapsed or task.total is None:
            return Text("ETA --:--:--", style="progress.remaining")
        return Text(f"ETA {hms((task.total - task.completed) * elapsed / ran)}",
                    style="progress.remaining")


class _Bar(rp.Progress):
    """rich's progress bar with the workers' lines under it."""

    def __init__(self, lines: Callable[[], Iterable[str]], *columns: str | rp.ProgressColumn,
                 console: Console, clock: Clock) -> None:
        self._lines = lines  # before rich's __init__, which renders once
        super().__init__(*columns, console=console, get_time=clock, refresh_per_second=4)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for line in self._lines():
            yield Text(line, style="dim", overflow="ellipsis", no_wrap=True)


class Progress:
    """The progress of one run's cells; a context manager (the bar stops on exit)."""

    def __init__(self, total: int, already_done: int = 0, workers: int = 1, *,
                 console: Console, clock: Clock = time.monotonic) -> None:
        self.total = max(total, already_done)
        self.before = already_done
        self.done = already_done
        self.failed = 0  # cells of this run with a failed check
        self.infra = 0  # cells of this run with an infrastructure error
        self.workers = workers
        self.console = console
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: dict[str, tuple[CellSpec, float]] = {}  # worker -> its cell, since
        self._seen: list[str] = []  # every worker that ran a cell, in the order first seen
        self._bar: _Bar | None = None
        self._task: rp.TaskID | None = None

    @property
    def live(self) -> bool:
        """A bar is drawn (the console is a terminal), rather than plain lines."""
        return self.console.is_terminal

    def __enter__(self) -> Progress:
        if self.live:
            self._bar = _Bar(self.worker_lines,
                             rp.TextColumn("[progress.description]{task.description}"), rp.BarColumn(),
                             rp.MofNCompleteColumn(),
                             rp.TextColumn("[red]{task.fields[failed]} failed[/]"),
                             rp.TextColumn("[yellow]{task.fields[infra]} infra[/]"),
                             rp.TimeElapsedColumn(), EtaColumn(), console=self.console,
                             clock=self._clock)
            what = "cells" + (f" on {self.workers} workers" if self.workers > 1 else "") + (
                f" ({self.before} done before)" if self.before else "")
            self._task = self._bar.add_task(what, total=self.total, completed=self.done,
                                            failed=0, infra=0, before=self.before)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar; its last frame (the totals, no workers) stays on the screen."""
        with self._lock:
            self._flight.clear()
            self._seen.clear()
            bar, self._bar = self._bar, None
        if bar is not None:
            bar.refresh()
            bar.stop()

    def started(self, spec: CellSpec, worker: str) -> None:
        """A cell went to a worker (an executor's `started` callback)."""
        with self._lock:
            for w, (other, _) in list(self._flight.items()):
                if identity(other) == identity(spec):  # retried elsewhere: not there now
                    del self._flight[w]
            self._flight[worker] = (spec, self._clock())
            if worker not in self._seen:
                self._seen.append(worker)

    def finished(self, cell: CellResult) -> None:
        """A cell ended: count it, and say how it went."""
        with self._lock:
            for w, (spec, _) in list(self._flight.items()):
                if identity(spec) == identity(cell):
                    del self._flight[w]
            self.done += 1
            self.total = max(self.total, self.done)
            self.failed += failed(cell)
            self.infra += broken(cell)
            counter = f"[{self.done}/{self.total}]"
            bar, task = self._bar, self._task
            if bar is not None and task is not None:
                bar.update(task, total=self.total, completed=self.done, failed=self.failed,
                           infra=self.infra)
        self.note(escape(counter) + cell_line(cell))
        self.refresh()  # the bar shows the new count at once, not at its next tick

    def note(self, text: str) -> None:
        """A message during the run (rich markup), above the bar on a terminal."""
        bar = self._bar
        (bar.console if bar is not None else self.console).print(text, highlight=False,
                                                                  soft_wrap=True)

    def worker_lines(self) -> list[str]:
        """One line per worker that has run a cell: the cell in flight on it, or idle."""
        now = self._clock()
        with self._lock:
            flight = dict(self._flight)
            seen = sorted(self._seen, key=natural)
        lines = []
        for w in seen:
            if w in flight:
                spec, since = flight[w]
                lines.append(f"worker {w}: {spec.label} ({now - since:.0f} s)")
            else:
                lines.append(f"worker {w}: idle")
        return lines

    def refresh(self) -> None:
        """Draw the bar now (it redraws itself a few times a second anyway)."""
        if self._bar is not None:
            self._bar.refresh()
