"""A stop signal ends the run as interrupted (exit 130) even when its KeyboardInterrupt
was swallowed on the way (Python cannot raise it from a finaliser, for one): CI saw a
Ctrl-C'd `harness score` run its cell to the end and exit 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness import cli


@pytest.fixture
def handlers():  # type: ignore[no-untyped-def]
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def test_a_swallowed_interrupt_still_stops_the_run(tmp_path: Path, handlers: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "INTERRUPTS", [])
    cli.handle_stop_signals()
    ran: list[str] = []

    def score() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # swallowed, as a finaliser would
        ran.append("the rest of the cells")

    stopped = cli.run_cells(score, tmp_path)
    assert ran and stopped is not None and stopped.code == 130, stopped
    assert "interrupted" in stopped.why


def test_no_signal_no_stop(tmp_path: Path, handlers: None,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "INTERRUPTS", [])
    cli.handle_stop_signals()
    assert cli.run_cells(lambda: None, tmp_path) is None
