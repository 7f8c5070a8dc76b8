"""Checks on published outputs: whole, from a successful attempt, published once.

The probe records the sha256 of every output it writes to $ENGINE_OUTPUT and whether
its run then exited 0. The harness watched outputs/ throughout the scenario, with the
kernel's inotify events and by polling; an atomic, once-only publish shows one
appearance of the name and no write to it afterwards.

Each needs an output to have been due: a step that writes $ENGINE_OUTPUT ran to success
(per the probe). The scenarios' workflows have such steps, which the contract has run
and published, so an engine that published nothing fails these rather than passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.checks.common import events, excerpt, fault_missed, of_kind, sha256, steps_ran
from harness.model import Evidence, Severity
from harness.observe import Observation


def _successful_outputs(obs: Observation, step: str) -> dict[str, int]:
    """sha256 -> run, for outputs written by runs of step that then exited 0."""
    ok_runs = {r["run"] for r in obs.ends(step) if r.get("exit") == 0}
    return {r["sha256"]: r["run"] for r in obs.audit
            if r.get("kind") == "output" and r.get("step") == step and r.get("run") in ok_runs}


def _written(obs: Observation) -> list[str]:
    """Steps that wrote $ENGINE_OUTPUT in a run that then exited 0: outputs the contract
    has the engine publish once their success is in the log."""
    ok = {(r.get("step"), r.get("run")) for r in obs.ends() if r.get("exit") == 0}
    return sorted({str(r.get("step")) for r in obs.audit
                   if r.get("kind") == "output" and (r.get("step"), r.get("run")) in ok})


def _nothing_published(obs: Observation) -> list[Evidence]:
    """Evidence when no output of a step was ever published, so the property was never
    tested: the contract demands the workflow's outputs, so that is a failure."""
    ids = {s["id"] for s in obs.workflow["steps"]}
    if any(p.name in ids for p in obs.publications) or any(n in ids for n in obs.appearances):
        return []
    due = _written(obs)
    return steps_ran(obs) or [Evidence(
        "outputs of the steps that write $ENGINE_OUTPUT published in outputs/",
        f"none was published (steps that wrote one and exited 0: {', '.join(due)})" if due else
        "no step that writes $ENGINE_OUTPUT ran to success, so none was due",
        "STATE_DIR/outputs")]


@check("outputs.published", "exactly_once_outputs", Severity.MAJOR)
def published(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """Each succeeded step that wrote $ENGINE_OUTPUT has outputs/ID: one successful run's bytes.

    TASK.md: §"Step semantics" (Environment: ENGINE_OUTPUT; Outputs: the whole output of
    exactly one successful attempt)."""
    out = []
    for rec in obs.starts():
        if not rec.get("output_env"):
            out.append(Evidence("ENGINE_OUTPUT set for every attempt", "not set",
                                f"step {rec['step']} run {rec['run']}"))
        elif rec.get("output_preexisting"):
            out.append(Evidence("ENGINE_OUTPUT does not exist when the attempt starts",
                                f"{rec['output_env']} existed", f"step {rec['step']}"))
    succeeded = {e.get("step") for e in of_kind(events(obs.final_log), "STEP_SUCCEEDED")}
    judged = [s for s in sorted(x for x in succeeded if isinstance(x, str))
              if _successful_outputs(obs, s)]
    if not judged and not out:
        due = _written(obs)
        return steps_ran(obs) or [Evidence(
            "a step that writes $ENGINE_OUTPUT succeeds (per the probe and the log), so its"
            " output is due", f"the log records no success of {', '.join(due)}" if due else
            "none ran to success", "audit vs STATE_DIR/events.jsonl", excerpt(obs.final_log))]
    for step in judged:
        good = _successful_outputs(obs, step)
        data = obs.outputs.get(step)
        if data is None:
            out.append(Evidence(f"outputs/{step} published", "missing", "STATE_DIR/outputs",
                                excerpt(obs.final_log)))
        elif sha256(data) not in good:
            out.append(Evidence(f"outputs/{step} equal to the whole output of one successful"
                                f" run ({len(good)} candidate(s))",
                                f"{len(data)} bytes matching none; starts {data[:60]!r}",
                                f"STATE_DIR/outputs/{step}", excerpt(obs.final_log)))
    return out[:6]


@check("outputs.once", "exactly_once_outputs", Severity.FATAL)
def once(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """A step's output is published once: outputs/ID appears once and never changes.

    The witnesses are the kernel's inotify events, so the verdict does not depend on what
    a poll happened to catch: each creation, link or rename of a name into outputs/ is one
    appearance, and each time the name is written and then closed is one write session
    (a republish in place, over the same inode, is a second). Polling adds the inodes it
    saw, for a name made before outputs/ was watched. A file written in place once, and
    seen partial on the way, is published once: whether its readers could see it partial
    is outputs.atomic's to judge.

    TASK.md: §"Step semantics" (Outputs: published once, never replaced or rewritten);
    §"Crash recovery" step 9."""
    inodes: dict[str, list[int]] = {}
    for pub in obs.publications:
        if pub.inode not in inodes.setdefault(pub.name, []):
            inodes[pub.name].append(pub.inode)
    ids = {s["id"] for s in obs.workflow["steps"]}
    out = _nothing_published(obs)
    for name in sorted(set(inodes) | set(obs.appearances) | set(obs.write_sessions)):
        seen, made = inodes.get(name, []), obs.appearances.get(name, 0)
        written = obs.write_sessions.get(name, 0)
        if len(seen) > 1:
            shown = ", ".join(f"inode {i}" for i in seen[:4])
            out.append(Evidence(f"outputs/{name} published once, whole",
                                f"{len(seen)} files seen under that name: {shown}",
                                f"STATE_DIR/outputs/{name}"))
        elif made > 1 and name in ids:
            out.append(Evidence(f"outputs/{name} published once, whole",
                                f"it was put in place {made} times: the kernel reported each"
                                " creation or rename of that name into outputs/",
                                f"STATE_DIR/outputs/{name}"))
        elif written > 1 and name in ids:
            out.append(Evidence(f"outputs/{name} published once, whole",
                                f"it was written {written} times over: the kernel reported"
                                " each write to outputs/" + name + " that was then closed",
                                f"STATE_DIR/outputs/{name}"))
    first = min((p.seen for p in obs.publications if p.name in ids), default=None)
    if not out and not any(first is not None and i.started > first for i in obs.runs("run")):
        return fault_missed(obs, "no run began after an output was published, so no"
                            " resume could publish one again")
    return out


@check("outputs.atomic", "exactly_once_outputs", Severity.MAJOR)
def atomic(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """outputs/ID appears whole: made by a link or a rename, never written in place.

    Judged from the kernel's inotify events on outputs/: a write to a file under its step
    id means a reader could have seen it partial (empty at creation, then growing).

    TASK.md: §"Step semantics" (Outputs: atomically, never a partial one)."""
    ids = {s["id"] for s in obs.workflow["steps"]}
    return _nothing_published(obs) or [Evidence(f"outputs/{name} made whole by a link or a rename",
                     f"written in place: the kernel reported writes to outputs/{name}"
                     " after the name appeared",
                     f"STATE_DIR/outputs/{name}")
            for name, n in sorted(obs.written_in_place.items()) if name in ids and n][:6]


@check("outputs.no_temp", "exactly_once_outputs", Severity.MINOR)
def no_temp(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """outputs/ holds only files named after steps: no temporary files left there.

    TASK.md: §"Step semantics" (Outputs: no temporary files there, ever)."""
    ids = {s["id"] for s in obs.workflow["steps"]}
    stray = sorted(n for n in obs.outputs if n not in ids)
    if stray:
        return [Evidence("only step ids in outputs/", f"also: {', '.join(stray[:5])}",
                         "STATE_DIR/outputs")]
    return _nothing_published(obs)
