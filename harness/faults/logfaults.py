"""Procedures that damage the log on disk, and ones that feed the engine bad input.

torn_tail and corrupt_middle first crash a real run at a seeded event count, so the
log they damage is one the candidate wrote itself; they then restore that same crash
state before each variant, so every variant starts from identical bytes.
invalid_workflow, concurrent_run and changed_workflow test the engine's refusals:
each refusal must leave the log byte for byte as it was.

Every damage and restore goes through `safefs`: a log that is a link or a special file,
or over its cap, stops the procedure before anything is written (`Unsafe`).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from harness.eventlog import complete_prefix
from harness.faults.crashes import crash_at_events
from harness.faults.damage import CORRUPTIONS, corrupt, last_line_length, tear
from harness.faults.inject import Trigger, drive, read_log, restore, snapshot
from harness.faults.procedures import PROCEDURES, Ctx
from harness.faults.together import WIDTH, Call, drive_together
from harness.layout import LOG, STATE, WORKFLOW, input_file, state_dir
from harness.observe import Invocation, Variant
from harness.runners.base import EngineProcess
from harness.safefs import LOG_CAP
from harness.trace.durability import LOG_NAME
from harness.workflow import text_problems

# A sane engine's log is small and its lines far shorter than TORN_ALL_MAX: its last line
# is torn at every byte. Each variant keeps a whole damaged log, so a longer line, or a
# log so big that all its variants would hold over TORN_BYTES, gets a seeded sample of
# offsets instead (first and last included): an 8 MB line or log cannot make millions
# of invocations, nor hold gigabytes.
TORN_ALL_MAX = 4096
TORN_SAMPLE = 16
TORN_BYTES = 64 << 20


def _crash_base(ctx: Ctx) -> bytes | None:
    """Run and SIGKILL at a seeded event count; the complete lines it left, or None."""
    lo, hi = ctx.params.get("kill_events", [4, 8])
    inv = crash_at_events(ctx, ctx.rng.randint(lo, hi))
    ctx.cell.end_all()  # the killed run's steps are not what these scenarios judge
    base = complete_prefix(ctx.files.read_strict(LOG, LOG_CAP) or b"")
    lines = base.count(b"\n")
    ctx.facts["base_lines"] = lines
    # How many step runs made that state: a log the engine wrote without running a step
    # is a forgery, not a crash state of a run, and nothing judged on it would count.
    ctx.facts["base_starts"] = sum(1 for r in ctx.watcher.audit() if r.get("kind") == "start")
    if lines < 2:
        ctx.facts["precondition"] = (f"the crashed run left {lines} complete log"
                                     f" lines; at least 2 are needed ({inv.describe()})")
        return None
    ctx.files.write(LOG, base)
    return ctx.files.intern(base)


def _variant(ctx: Ctx, label: str, args: list[str]) -> Invocation:
    return drive(ctx.cell, ctx.watcher, args, label=label, bound_s=ctx.bound, limit=ctx.limit)


def _offsets(ctx: Ctx, length: int) -> list[int]:
    want = ctx.params.get("run_offsets", "all")
    if want == "all" or int(want) >= length:
        return list(range(1, length + 1))
    inner = ctx.rng.sample(range(2, length), max(0, min(int(want) - 2, length - 2)))
    return sorted({1, length, *inner})


def _sampled_offsets(ctx: Ctx, length: int, size: int) -> tuple[list[int], set[int]]:
    """For a last line or log too big to tear at every byte: a seeded sample of offsets
    for status, and those of them that run also runs at."""
    n = min(length, TORN_SAMPLE, max(2, TORN_BYTES // max(1, size)))
    status_at = sorted({1, length, *ctx.rng.sample(range(2, length), max(0, n - 2))})
    ctx.facts["offsets_sampled"] = (f"the last line is {length} bytes and the log {size}:"
                                    f" status ran at {len(status_at)} seeded offsets, not"
                                    f" at every one")
    want = ctx.params.get("run_offsets", "all")
    if want == "all" or int(want) >= len(status_at):
        return status_at, set(status_at)
    inner = ctx.rng.sample(status_at[1:-1], max(0, int(want) - 2))
    return status_at, {1, length, *inner}


def torn_tail(ctx: Ctx) -> None:
    """Cut the last line at every byte offset (a seeded sample of them for a line or a
    log too big, see TORN_BYTES): status ignores it, run cuts it and finishes.

    status, which must change nothing, runs on copies of the crash state, WIDTH
    offsets at once, each copy its own STATE_DIR; run, which finishes the workflow and
    writes the one audit, runs offset by offset on the restored STATE_DIR itself."""
    base = _crash_base(ctx)
    if base is None:
        return
    snap = snapshot(ctx.cell, ctx.files, "base")
    length = last_line_length(base)
    if length <= TORN_ALL_MAX and length * len(base) <= TORN_BYTES:
        status_at, run_at = list(range(1, length + 1)), set(_offsets(ctx, length))
    else:
        status_at, run_at = _sampled_offsets(ctx, length, len(base))
    ctx.facts["offsets"] = length
    ctx.facts["run_offsets"] = sorted(run_at)
    status = _torn_statuses(ctx, snap, base, status_at)
    for keep in status_at:
        torn = ctx.files.intern(tear(base, keep))
        invs = [status[keep]]
        facts: dict[str, Any] = {"keep": keep, "line_length": length, "base": base,
                                 "torn": torn}
        if keep in run_at:
            restore(ctx.cell, ctx.files, snap)
            ctx.files.write(LOG, torn)
            invs.append(_variant(ctx, f"run torn@{keep}", ctx.run_args()))
            ctx.cell.end_all()
            # The steps that ran to success by the end of this run, the crashed base run's
            # included (the audit was restored with the state): finishing means all of them.
            facts["succeeded"] = sorted({str(r.get("step")) for r in ctx.watcher.audit()
                                         if r.get("kind") == "end" and r.get("exit") == 0})
        ctx.variants.append(Variant(f"torn@{keep}", tuple(invs), facts))


def _torn_statuses(ctx: Ctx, snap: Path, base: bytes, offsets: list[int]) -> dict[int, Invocation]:
    """status at each offset, on a copy of the crash state torn there, WIDTH at a
    time; each copy is removed once its status ended."""
    found: dict[int, Invocation] = {}
    for i in range(0, len(offsets), WIDTH):
        batch = offsets[i:i + WIDTH]
        calls = []
        for keep in batch:
            state = state_dir(f"torn-{keep}")
            ctx.files.copy_in(snap, STATE, into=state)
            ctx.files.write(f"{state}/{LOG_NAME}", tear(base, keep))
            ctx.cell.hand_over(state)
            calls.append(Call(f"status torn@{keep}", tuple(ctx.status_args(state)),
                              f"{state}/{LOG_NAME}"))
        invs = drive_together(ctx.cell, ctx.watcher, calls, bound_s=ctx.bound, limit=ctx.limit)
        ctx.cell.end_all()
        for keep, inv in zip(batch, invs, strict=True):
            found[keep] = inv
            ctx.files.remove(state_dir(f"torn-{keep}"))
    return found


def corrupt_middle(ctx: Ctx) -> None:
    """Damage a line that is not the last: run and status exit 3 and change no byte."""
    base = _crash_base(ctx)
    if base is None:
        return
    snap = snapshot(ctx.cell, ctx.files, "base")
    kinds = list(ctx.params.get("kinds", CORRUPTIONS))
    for i in range(int(ctx.params.get("variants", 3))):
        damage = corrupt(base, ctx.rng, kinds[i % len(kinds)])
        restore(ctx.cell, ctx.files, snap)
        ctx.files.write(LOG, ctx.files.intern(damage.data))
        starts_before = len(ctx.watcher.audit())
        invs = (_variant(ctx, f"status {damage.kind}", ctx.status_args()),
                _variant(ctx, f"run {damage.kind}", ctx.run_args()))
        ctx.cell.end_all()
        ctx.variants.append(Variant(damage.description, invs, {
            "damaged": ctx.files.intern(damage.data), "line": damage.line_number,
            "new_audit": [r for r in ctx.watcher.audit()[starts_before:]
                          if r.get("kind") == "start"]}))


def invalid_workflow(ctx: Ctx) -> None:
    """Each malformed workflow: exit 2, a message on stderr, and no STATE_DIR; then status
    of a missing and of an empty STATE_DIR. Every invocation has its own workflow file and
    STATE_DIR, so they run together.WIDTH at a time."""
    cases = list(ctx.params.get("cases", []))
    calls, states = [], []
    for i, case in enumerate(cases):
        name, state = input_file(f"invalid-{i}.json"), state_dir(f"state-invalid-{i}")
        ctx.files.write(name, str(case["text"]).encode())
        calls.append(Call(f"run {case['name']}", tuple(ctx.run_args(name, state)), LOG))
        states.append(state)
    ctx.files.mkdir(state_dir("empty-state"))
    ctx.cell.hand_over(state_dir("empty-state"))
    labels = ("status of a missing STATE_DIR", "status of an empty STATE_DIR")
    for label, state in zip(labels, (state_dir("missing-state"), state_dir("empty-state")),
                            strict=True):
        calls.append(Call(label, tuple(ctx.status_args(state)), LOG))
    for at in range(0, len(calls), WIDTH):
        invs = drive_together(ctx.cell, ctx.watcher, calls[at:at + WIDTH],
                              bound_s=ctx.bound, limit=ctx.limit)
        for i, inv in enumerate(invs, start=at):
            if i < len(cases):
                ctx.variants.append(Variant(str(cases[i]["name"]), (inv,), {
                    "text": cases[i]["text"], "state_exists": ctx.files.lstat(states[i]) is not None}))
            else:
                ctx.variants.append(Variant(inv.label, (inv,), {"status_case": True}))


def validate_invalid_cases(params: dict[str, Any]) -> list[str]:
    """Each case must break a contract rule under every reading TASK.md allows (a corner
    it leaves to the engine, such as a repeated key, is no rule broken), or demanding
    exit 2 would be wrong."""
    problems = []
    cases = params.get("cases", [])
    if not isinstance(cases, list) or len(cases) < 1:
        return ["params.cases: a list of {name, text} tables is required"]
    for i, case in enumerate(cases):
        if not (isinstance(case, dict) and isinstance(case.get("text"), str)):
            problems.append(f"params.cases[{i}]: needs 'name' and 'text' strings")
        elif not text_problems(case["text"].encode()):
            problems.append(f"params.cases[{i}] ({case.get('name')}): is a valid workflow"
                            " under some reading TASK.md allows")
    return problems


def concurrent_run(ctx: Ctx) -> None:
    """Freeze a live engine with SIGSTOP, start a second on its STATE_DIR, then SIGCONT."""

    def second_engine(first: EngineProcess) -> None:
        first.send_signal(signal.SIGSTOP)
        time.sleep(0.05)
        before, starts = read_log(ctx.files, keep=True), len(ctx.watcher.audit())
        inv = drive(ctx.cell, ctx.watcher, ctx.run_args(), label="run 2 (concurrent)",
                    bound_s=float(ctx.params.get("second_bound_s", 10)), limit=ctx.limit)
        ctx.invocations.append(inv)
        ctx.facts.update(log_before=before, log_after=read_log(ctx.files, keep=True),
                         new_audit=[r for r in ctx.watcher.audit()[starts:]
                                    if r.get("kind") == "start"])
        first.send_signal(signal.SIGCONT)

    inv = ctx.call(ctx.run_args(), "run 1", trigger=Trigger("starts", 1, delay=0.3),
                   action=second_engine, action_name="SIGSTOP, a second run, SIGCONT")
    ctx.facts["exercised"] = inv.fault_at is not None
    ctx.settle_alive("end", grace=0.2)


def changed_workflow(ctx: Ctx) -> None:
    """Crash a run, then resume with a different workflow file: exit 2, log unchanged."""
    crash_at_events(ctx, int(ctx.params.get("kill_events", 3)))
    ctx.cell.end_all()
    ctx.facts["base_starts"] = sum(1 for r in ctx.watcher.audit() if r.get("kind") == "start")
    doc = json.loads(ctx.workflow)
    doc["name"] = doc["name"] + "-changed"
    changed = input_file("workflow-changed.json")
    ctx.files.write(changed, (json.dumps(doc, indent=2) + "\n").encode())
    starts = len(ctx.watcher.audit())
    ctx.call(ctx.run_args(changed), "run 2 (changed workflow)")
    ctx.facts["new_audit"] = [r for r in ctx.watcher.audit()[starts:] if r.get("kind") == "start"]
    ctx.call(ctx.run_args(WORKFLOW), "run 3 (original workflow)")


PROCEDURES.update({
    "torn_tail": torn_tail,
    "corrupt_middle": corrupt_middle,
    "invalid_workflow": invalid_workflow,
    "concurrent_run": concurrent_run,
    "changed_workflow": changed_workflow,
})
VALIDATORS = {"invalid_workflow": validate_invalid_cases}
