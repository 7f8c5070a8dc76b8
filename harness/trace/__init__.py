"""Syscall traces of a candidate's run: record with strace, parse, map to durability.

Issue 13 builds crash points and crash states from what an engine actually did, not
from polled moments. This package is the recording half: `strace_argv` wraps an engine
command so that strace writes every file call that can change durable state, with its
exact data; `parse_trace` turns that output into `Call` records; `durability_calls`
keeps the calls that touch one STATE_DIR and says what each one writes (the log
events a write carries, the step an output link or rename publishes, the file an fsync
makes durable). `harness.trace.states` builds crash states from those calls offline
(prefix, torn write, strict power loss; the model in `harness.trace.fsmodel`) and
materialises one as a fresh STATE_DIR. Everything except `strace_argv`'s use and
`materialise` is pure: text in, records out.
"""

from __future__ import annotations

from harness.trace.durability import DurabilityCall, Kind, LogEvent, durability_calls, log_events
from harness.trace.states import (
    CrashState,
    Model,
    StateError,
    materialise,
    power_loss_states,
    prefix_states,
    torn_states,
)
from harness.trace.strace import TRACED, Call, TraceError, parse_trace, strace_argv

__all__ = [
    "TRACED", "Call", "CrashState", "DurabilityCall", "Kind", "LogEvent", "Model", "StateError",
    "TraceError", "durability_calls", "log_events", "materialise", "parse_trace",
    "power_loss_states", "prefix_states", "strace_argv", "torn_states",
]
