"""daemon_call's retry policy: what a hanging daemon costs is bounded.

A timed-out call is repeated only where that is safe whatever the first try did; a
refused connection is retried; no retry starts after the budget."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests.exceptions

from harness.container.client import daemon_call
from harness.errors import InfraError


def failing(exc: BaseException, calls: list[float]) -> Callable[[], None]:
    def fn() -> None:
        calls.append(time.monotonic())
        raise exc

    return fn


def test_a_timed_out_call_is_not_repeated_blindly() -> None:
    calls: list[float] = []
    with pytest.raises(InfraError, match="did not answer within .* to list containers"):
        daemon_call("list containers", failing(requests.exceptions.ReadTimeout("slow"), calls))
    assert len(calls) == 1


def test_a_timed_out_call_that_is_safe_to_repeat_is_retried() -> None:
    calls: list[float] = []
    with pytest.raises(InfraError, match=r"\(3 attempt\(s\)\)"):
        daemon_call("create", failing(requests.exceptions.ReadTimeout("slow"), calls),
                    after_timeout=True)
    assert len(calls) == 3


def test_a_refused_connection_is_retried_within_the_budget() -> None:
    calls: list[float] = []
    with pytest.raises(InfraError, match="did not answer while trying to ping"):
        daemon_call("ping", failing(ConnectionRefusedError("no"), calls), attempts=10,
                    budget_s=1.0)
    assert 2 <= len(calls) < 10  # backoff 0.5 s, 1 s ...: the budget ends it early
    assert calls[-1] - calls[0] < 1.0


def test_success_after_a_reset_connection() -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ConnectionResetError("reset")
        return "ok"

    assert daemon_call("inspect", flaky) == "ok" and len(calls) == 2
