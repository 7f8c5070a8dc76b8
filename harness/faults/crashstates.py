"""The crash-states scenario: ALICE-style crash states, built offline, resumed for real.

`crash_states` records the scenario's workflow once under strace (`exact.record`). Live
kills first: a seeded plan of the recorded crash points (`harness.trace.plan.choose`,
first and last always in, stored in the cell's record as `crash_plan`), each a fresh run
in work/l-N killed by strace at that call. Then it builds from the recorded calls the
STATE_DIRs a crash could leave (`harness.trace.states`: a process crash after k calls,
call k torn, a power loss after k calls), takes a seeded sample of each model, and
writes each into a fresh STATE_DIR (work/s-N). Every state, live or built, is then
resumed: `status` and `run` are invoked on it, and what they did is kept as a `Variant`
for `harness.checks.states`.

The recording and every resume run the same workflow bytes (the digest in the log must
match), so they share one audit, the cell's; each state's own probe runs are the audit
records its invocations added. A cell that cannot record (no strace, a fake runner, a
trace that is not what happened) builds no state, and the checks say why (NotExercised).

The pure parts (`choose`, `acted_on`, `succeeded_in`) are here too, for the unit tests.
"""

from __future__ import annotations

import json
import random
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from harness.beneath import plain
from harness.eventlog import parse_log
from harness.faults import exact
from harness.faults.inject import drive
from harness.faults.procedures import PROCEDURES, Ctx
from harness.layout import AUDIT, state_dir
from harness.observe import Invocation, Variant, parse_audit
from harness.safefs import AUDIT_CAP, LOG_CAP, OUTPUT_CAP
from harness.trace.durability import (
    LOG_NAME,
    OUTPUTS,
    DurabilityCall,
    Kind,
    log_events,
    relative,
)
from harness.trace.plan import CrashPoint, plan_json
from harness.trace.plan import choose as choose_points
from harness.trace.states import CrashState, Model, power_loss_states, prefix_states, torn_states

DEFAULT_COUNT = 8  # states per model when the scenario does not say
OVERSAMPLE = 4  # the generators draw this many times the wanted count, before dedup


def choose(models: Sequence[tuple[Model, list[CrashState]]], counts: Mapping[Model, int],
           rng: random.Random) -> tuple[list[CrashState], dict[str, str]]:
    """A seeded sample of each model's states, in model order: first and last always kept,
    a state whose tree (files and directories) is byte for byte one already kept dropped.
    Returns the chosen states and, for each dropped one, the name of its twin."""
    seen: dict[tuple[object, ...], str] = {}
    chosen: list[CrashState] = []
    twins: dict[str, str] = {}
    for model, states in models:
        fresh = []
        for s in states:
            key = (s.files, s.dirs)
            if key in seen:
                twins[s.name] = seen[key]
            else:
                seen[key] = s.name
                fresh.append(s)
        n = counts.get(model, DEFAULT_COUNT)
        if len(fresh) > max(n, 2):
            middle = sorted(rng.sample(range(1, len(fresh) - 1), max(n, 2) - 2))
            fresh = [fresh[0], *(fresh[i] for i in middle), fresh[-1]]
        elif n <= 0:
            fresh = []
        chosen.extend(fresh)
    return chosen, twins


def succeeded_in(log: bytes | None) -> list[str]:
    """Steps with a STEP_SUCCEEDED among the log's complete events."""
    return sorted({str(e.get("step")) for e in parse_log(log or b"").events
                   if e.get("type") == "STEP_SUCCEEDED"})


def acted_on(calls: Sequence[DurabilityCall], k: int,
             deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Steps whose success the engine acted on within its first k recorded calls: it
    published their output, or wrote the STEP_STARTED of a step that depends on them."""
    events = log_events(calls)
    acted = {dc.step for dc in calls[:k] if dc.kind is Kind.PUBLISH and dc.step}
    for dc in calls[:k]:
        if dc.kind is not Kind.LOG_WRITE or dc.partial:
            continue
        for i in dc.events:
            doc = events[i].event if i < len(events) else None
            if doc and doc.get("type") == "STEP_STARTED":
                acted |= set(deps.get(str(doc.get("step")), ()))
    return sorted(acted)


def unpublishable(log: bytes | None, files: Mapping[str, bytes],
                  earlier: Sequence[Mapping[str, Any]], recorded_state: str) -> list[str]:
    """Steps whose success the state's log holds but whose output cannot be published:
    neither outputs/ID nor the attempt's file ($ENGINE_OUTPUT of the attempt its
    STEP_SUCCEEDED names, per the recording's audit) is in the state. A power loss can
    undo a file whose directory no fsync made durable; the contract has the engine publish
    "from the attempt named in its STEP_SUCCEEDED" and never run the step again, so that
    output is not demanded of it."""
    last: dict[str, object] = {}
    for e in parse_log(log or b"").events:
        if e.get("type") == "STEP_SUCCEEDED":
            last[str(e.get("step"))] = e.get("attempt")
    out = []
    for step, attempt in sorted(last.items()):
        if f"{OUTPUTS}/{step}" in files:
            continue
        paths = [str(r.get("output_env") or "") for r in earlier if r.get("kind") == "start"
                 and r.get("step") == step and r.get("attempt_env") == str(attempt)]
        rel = relative(paths[0], recorded_state) if paths else None
        if rel is not None and rel not in files:
            out.append(step)
    return out


def _counts(ctx: Ctx) -> dict[Model, int]:
    return {m: int(ctx.params.get(m.value, DEFAULT_COUNT)) for m in Model}


def _build(ctx: Ctx, calls: Sequence[DurabilityCall]) -> list[tuple[Model, list[CrashState]]]:
    counts = _counts(ctx)
    limit = {m: max(2, counts[m] * OVERSAMPLE) for m in Model}
    seeds = {m: ctx.rng.randrange(1 << 32) for m in Model}
    return [(Model.PREFIX, prefix_states(calls, limit[Model.PREFIX], seeds[Model.PREFIX])),
            (Model.TORN, torn_states(calls, seeds[Model.TORN], limit[Model.TORN])),
            (Model.POWER_LOSS, power_loss_states(calls, limit[Model.POWER_LOSS],
                                                 seeds[Model.POWER_LOSS]))]


def _materialise(ctx: Ctx, state: CrashState, where: str) -> None:
    """Write the state into the fresh STATE_DIR `where`, through safefs."""
    paths = [*state.dirs, *(p for p, _ in state.files)]
    bad = [p for p in paths if not plain(p)]
    if bad:  # the trace named it: the recording is the candidate's, so say so, write nothing
        raise ValueError(f"{bad[0]!r} is not a plain path inside STATE_DIR")
    ctx.files.make_tree(where, state.dirs, state.files)
    ctx.cell.hand_over(where)


def _outputs(ctx: Ctx, where: str) -> dict[str, tuple[int, bytes]]:
    """outputs/ of a STATE_DIR: name -> (inode, bytes), regular files only."""
    found = {}
    for name, st in ctx.files.entries(f"{where}/{OUTPUTS}") or []:
        if not stat.S_ISREG(st.st_mode):
            continue
        data = ctx.files.read(f"{where}/{OUTPUTS}/{name}", OUTPUT_CAP)
        if data is not None:
            found[name] = (st.st_ino, data)
    return found


def _audit(ctx: Ctx) -> tuple[dict[str, Any], ...]:
    return parse_audit(ctx.files.read(AUDIT, AUDIT_CAP) or b"")


def _tree(ctx: Ctx, where: str) -> tuple[tuple[tuple[str, bytes], ...], tuple[str, ...]]:
    """A STATE_DIR's regular files (bytes, each up to LOG_CAP) and folders, as a live
    kill left them (what `harness.replay` saves of a failing state)."""
    files, dirs, todo = [], [], [""]
    while todo:
        rel = todo.pop()
        for name, st in ctx.files.entries(f"{where}/{rel}" if rel else where) or []:
            sub = f"{rel}/{name}" if rel else name
            if stat.S_ISDIR(st.st_mode):
                dirs.append(sub)
                todo.append(sub)
            elif stat.S_ISREG(st.st_mode):
                data = ctx.files.read(f"{where}/{sub}", LOG_CAP)
                if data is not None:
                    files.append((sub, data))
    return tuple(sorted(files)), tuple(sorted(dirs))


def _resume(ctx: Ctx, n: int, state: CrashState, rec: exact.Recording,
            deps: Mapping[str, Sequence[str]], earlier: tuple[dict[str, Any], ...]) -> Variant:
    where = state_dir(f"s-{n}")
    _materialise(ctx, state, where)
    return _judged(ctx, where, rec, state.model.value, state.name, state.explanation,
                   state.files, state.dirs, acted_on(rec.calls, state.k, deps), earlier,
                   ctx.cell.engine_path(rec.state))


def _live(ctx: Ctx, n: int, point: CrashPoint, rec: exact.Recording,
          deps: Mapping[str, Sequence[str]], earlier: tuple[dict[str, Any], ...]) -> Variant:
    """A live kill: a fresh run of the recording's workflow in work/l-N, killed by strace
    at the point's call; what it left is resumed like every other state, its steps left
    running as a real crash leaves them."""
    where = state_dir(f"l-{n}")
    hit = exact.strike_at(rec, point)
    starts = len(_audit(ctx))
    kill = drive(ctx.cell, ctx.watcher, ctx.run_args(rec.workflow, where),
                 label=f"run killed {hit.describe()}", bound_s=ctx.bound, limit=ctx.limit,
                 wrap=hit.wrap(ctx, where), struck=hit.describe())
    files, dirs = _tree(ctx, where)
    why = (f"a kill at the engine's call {point.index} ({point.description}), before it took"
           " effect" if kill.fault else f"the run ended before call {point.index}"
           f" ({point.description}): exit {kill.returncode}")
    made = (*earlier, *_audit(ctx)[starts:])  # the killed run's probe runs made it too
    return _judged(ctx, where, rec, "live", f"live kill at call {point.index}", why, files,
                   dirs, acted_on(rec.calls, point.index, deps), made,
                   ctx.cell.engine_path(where), kill)


def _judged(ctx: Ctx, where: str, rec: exact.Recording, model: str, name: str, why: str,
            files: tuple[tuple[str, bytes], ...], dirs: tuple[str, ...], acted: list[str],
            earlier: tuple[dict[str, Any], ...], attempts_in: str,
            kill: Invocation | None = None) -> Variant:
    """status, then run, on the state in `where`; what they did, as a Variant."""
    log_rel = f"{where}/{LOG_NAME}"
    contents = dict(files)
    before = _outputs(ctx, where)
    log = contents.get(LOG_NAME)
    starts = len(_audit(ctx))
    invs: list[Invocation] = []
    for label, args in ((f"status {name}", ctx.status_args(where)),
                        (f"run {name}", ctx.run_args(rec.workflow, where))):
        prior = ctx.files.read(log_rel, LOG_CAP, intern=True)
        inv = drive(ctx.cell, ctx.watcher, args, label=label, bound_s=ctx.bound,
                    limit=ctx.limit)
        invs.append(replace(inv, log_before=prior,
                            log_after=ctx.files.read(log_rel, LOG_CAP, intern=True)))
    audit = _audit(ctx)[starts:]
    ctx.cell.end_all()
    due = [str(s["id"]) for s in ctx.scenario.workflow.get("steps", [])
           if "--write-output" in [str(a) for a in s.get("probe", [])]]
    return Variant(f"{model}: {name}", tuple(invs), {
        "model": model, "state": name, "explanation": why, "state_dir": where,
        "files": files, "dirs": dirs, "log": log, "succeeded": succeeded_in(log),
        "acted_on": acted, "earlier_audit": earlier, "audit": audit,
        "outputs_before": before, "outputs_after": _outputs(ctx, where), "due_outputs": due,
        "unpublishable": unpublishable(log, contents, earlier, attempts_in),
        **({"kill": kill} if kill is not None else {}),
    })


def crash_states(ctx: Ctx) -> None:
    """Record a clean run, build its crash states, and resume a seeded sample of them."""
    rec = exact.record(ctx, audit=AUDIT)
    ctx.facts["recording"] = rec
    if rec.unavailable:
        ctx.facts["states_unavailable"] = rec.unavailable
        ctx.facts["states_unavailable_by_candidate"] = rec.by_candidate
        return
    earlier = _audit(ctx)  # the recording's probe runs: they made every state
    deps = {str(s["id"]): [str(d) for d in s.get("depends_on", [])]
            for s in ctx.scenario.workflow.get("steps", [])}
    models = _build(ctx, rec.calls)
    chosen, twins = choose(models, _counts(ctx), ctx.rng)
    ctx.facts["states_built"] = {m.value: len(states) for m, states in models}
    ctx.facts["states_deduped"] = len(twins)
    ctx.facts["states_workflow"] = ctx.files.read(rec.workflow, LOG_CAP) or b""
    started = time.monotonic()
    plan = choose_points(rec.usable, ctx.rng.randrange(1 << 32),
                         max(2, int(ctx.params.get("live", DEFAULT_COUNT))))
    ctx.facts["crash_plan"] = json.loads(plan_json(plan))
    ctx.facts["states_built"]["live"] = plan.total
    for n, point in enumerate(plan.points, 1):
        ctx.variants.append(_live(ctx, n, point, rec, deps, earlier))
    for n, state in enumerate(chosen, 1):
        try:
            ctx.variants.append(_resume(ctx, n, state, rec, deps, earlier))
        except ValueError as exc:
            ctx.facts["stopped"] = f"state {state.name} cannot be written: {exc}"
            return
    ctx.facts["states_s"] = round(time.monotonic() - started, 3)


PROCEDURES["crash_states"] = crash_states
