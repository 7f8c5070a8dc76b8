"""The crash scenarios' kills, struck at exact calls wherever a recording allows.

crash_loop kills the engine K times, then runs it to the end. Each kill is drawn from
the cell's seeded RNG before the run it strikes:
- at a recorded call (`harness.faults.exact`): a write to the log, an fsync, a publish
  into outputs/. The first run starts as the recording did, so its kill lands at the
  very call the recording names; a resumed run replays first, so it is struck at a
  seeded ordinal of the same kind of call. The same seed gives the same calls. A kill
  "inside a step" is one of these too: the fsync that follows a STEP_STARTED is struck
  while that step runs (it was spawned before its STEP_STARTED was written).
- inside a step's sleep, timed (`kill_kinds = ["starts"]`, only when a scenario asks for
  it): a probe start, then a seeded delay.
Without a recording (see `Recording.unavailable`), or with no recorded call a strike can
hit alone (`Recording.usable`: say, an engine that spreads its log writes over threads,
which strace counts apart), the polled triggers of old are used
("after N events", "after T s"), and every such kill is noted as timed in the cell's
faults, so a report can say which verdicts could move with the machine's load.
"""

from __future__ import annotations

from harness.faults.exact import Recording, first_point, record, seeded_strike, strike, strike_at, timed
from harness.faults.inject import Trigger, read_log
from harness.faults.procedures import PROCEDURES, Ctx
from harness.observe import Invocation


def polled_trigger(ctx: Ctx, events_now: int) -> Trigger:
    """A seeded moment during the next run: by event count, by time, or inside a step."""
    kind = ctx.rng.choice(list(ctx.params.get("kill_kinds", ["events", "seconds", "starts"])))
    if kind == "events":
        return Trigger("events", events_now + ctx.rng.randint(1, int(ctx.params.get("span", 6))))
    if kind == "seconds":
        return Trigger("seconds", round(ctx.rng.uniform(0.05, float(ctx.params.get("max_s", 1.5))), 3))
    return starts_trigger(ctx)


def starts_trigger(ctx: Ctx) -> Trigger:
    starts = sum(1 for r in ctx.watcher.audit() if r.get("kind") == "start")
    return Trigger("starts", starts + ctx.rng.randint(1, 2),
                   delay=round(ctx.rng.uniform(0.0, 0.3), 3))


def timed_run(ctx: Ctx, label: str, trigger: Trigger) -> Invocation:
    inv = ctx.call(ctx.run_args(), label, trigger=trigger)
    timed(ctx, label, trigger.describe(), inv.fault_at is not None)
    return inv


def _kill(ctx: Ctx, rec: Recording, k: int, events_now: int) -> Invocation:
    """Run k, killed at a seeded exact call, or inside a step's sleep (timed)."""
    label = f"run {k}"
    if rec.unavailable or not rec.usable:  # no call a strike can hit alone: polled
        return timed_run(ctx, label, polled_trigger(ctx, events_now))
    kinds = [str(x) for x in ctx.params.get("kill_kinds", ["calls"])]
    if ctx.rng.choice(kinds) == "starts":
        return timed_run(ctx, label, starts_trigger(ctx))
    hit = seeded_strike(rec, ctx.rng, fresh=k == 1, span=int(ctx.params.get("span", 5)))
    return strike(ctx, label, hit)


def crash_loop(ctx: Ctx) -> None:
    """SIGKILL the engine at K seeded moments, then run until it finishes.

    With `kill_after_output = "ID"`, the first kill comes at the first log write or fsync
    after outputs/ID is published (in the recording's order): every later run then
    resumes over a log with a published output, which is what a republishing engine
    gets wrong."""
    rec = record(ctx)
    kills = int(ctx.params.get("kills", 4))
    after_output = str(ctx.params.get("kill_after_output", ""))
    for k in range(1, kills + 1):
        events_now = (read_log(ctx.files) or b"").count(b"\n")
        if k == 1 and after_output:
            point = None if rec.unavailable else first_point(rec, after_publish=after_output)
            if point is not None:
                inv = strike(ctx, "run 1", strike_at(rec, point))
            else:
                inv = timed_run(ctx, "run 1", Trigger("outputs", 1, step=after_output,
                                                      delay=0.05))
        else:
            inv = _kill(ctx, rec, k, events_now)
        if inv.fault_at is None:  # it finished before the moment came
            break
    ctx.run_to_completion(len(ctx.invocations) + 1, int(ctx.params.get("max_runs", 6)))
    ctx.settle_alive("end")
    ctx.call(ctx.status_args(), "status")


def crash_at_events(ctx: Ctx, lines: int) -> Invocation:
    """Run 1, killed once the log holds `lines` complete events: exactly at the first
    recorded log write or fsync that follows them, else (no recording) when polling
    sees them."""
    rec = record(ctx)
    point = None if rec.unavailable else first_point(rec, lines=lines)
    if point is not None:
        return strike(ctx, "run 1", strike_at(rec, point))
    return timed_run(ctx, "run 1", Trigger("events", lines))


PROCEDURES.update({"crash_loop": crash_loop})
