"""Checks on what kind of file the engine left where the contract expects one.

The harness never follows a link or opens a special file in a cell (harness.safefs);
each one it met, and each log or output over its size cap, is a hazard the
observation names. One check turns them into failures, with the sentence as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import check
from harness.model import Evidence, Severity
from harness.observe import Observation
from harness.safefs import LOG_CAP, OUTPUT_CAP, size_text

EXPECTED = (f"STATE_DIR a directory; events.jsonl (at most {size_text(LOG_CAP)}), each file"
            f" in outputs/ (at most {size_text(OUTPUT_CAP)}) and all else the harness reads or"
            " copies regular files, never links, FIFOs, sockets or devices")


@check("files.regular", "durable_log", Severity.FATAL)
def regular(obs: Observation, params: Mapping[str, Any]) -> list[Evidence]:
    """STATE_DIR is a directory, events.jsonl and outputs/* are regular files within their
    size caps; never links, FIFOs, sockets or devices.

    The same holds for everything else in STATE_DIR that a scenario copies to restore a
    crash state, and for the probe's audit. The harness refuses each such file unread,
    so a candidate that plants one fails here and is never judged on what it points at.

    TASK.md: §"Step semantics" (Files, never links); §"The event log"
    (`STATE_DIR/events.jsonl`)."""
    found = [Evidence(EXPECTED, hazard, "the cell, as the harness found it (host side)")
             for hazard in obs.hazards]
    if found or obs.scenario.procedure in NO_LOG_EXPECTED or _log_seen(obs):
        return found
    # Nothing refused because nothing was there: a pass would reward an engine that
    # never wrote the log every `run` of a valid workflow must write.
    return [Evidence(EXPECTED, "no events.jsonl was ever found in STATE_DIR, after any"
                     " invocation", "STATE_DIR/events.jsonl")]


# Scenarios whose workflows are all invalid: the contract wants no STATE_DIR at all.
NO_LOG_EXPECTED = frozenset({"invalid_workflow"})


def _log_seen(obs: Observation) -> bool:
    invocations = [*obs.invocations, *(i for v in obs.variants for i in v.invocations)]
    return bool(obs.final_log) or any(i.log_after for i in invocations)
