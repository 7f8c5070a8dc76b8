"""clean-run's procedure: one uninterrupted run, recorded under strace, then status.

The run is the cell's own "run 1" (the real workflow, audit and STATE_DIR), traced by a
detached strace (`harness.faults.exact.record_run`) and kept among the invocations, so
every clean-run check judges it as before, and the checks over the trace
(harness.checks.durability) judge the same run from `facts["recording"]`. Where no
recording can be had (a runner that cannot trace, an engine that failed, a trace that
is not what happened), the `Recording` says why and those checks are not exercised.
"""

from __future__ import annotations

from harness.faults.exact import record_run
from harness.faults.procedures import PROCEDURES, Ctx


def clean(ctx: Ctx) -> None:
    """One uninterrupted run, recorded, then status."""
    ctx.facts["recording"] = record_run(ctx, "run 1")
    ctx.settle_alive("end", grace=0.2)
    ctx.call(ctx.status_args(), "status")


PROCEDURES.update({"clean": clean})
