"""outputs.once on hand-made observations: the kernel's counts of appearances and write
sessions catch a republish that polling never saw (it came too soon after the first
publish), a file polling saw growing in one write is published once, and a check that
saw no output published, or no resume after one, does not pass."""

from __future__ import annotations

from typing import Any

import pytest

from harness import api
from harness.checks import NotExercised
from harness.checks.outputs import once
from harness.observe import Invocation, Observation, Publication

SCENARIO = api.all_scenarios(pattern="duplicate-outputs")[0]
STEP = SCENARIO.workflow["steps"][0]["id"]
# Every step ran to success, per the probe; a second run began after the first publish.
AUDIT: tuple[dict[str, Any], ...] = tuple(
    {"kind": kind, "step": s["id"], "run": 1, "pid": 100 + n, "pgid": 100 + n, "mono": 0.5,
     **({"exit": 0} if kind == "end" else {})}
    for n, s in enumerate(SCENARIO.workflow["steps"]) for kind in ("start", "end")) + (
    {"kind": "output", "step": STEP, "run": 1, "sha256": "0" * 64},)
RUNS = (Invocation("run 1", (), None, 0.0, 1.5, fault_at=1.4),
        Invocation("run 2", (), 0, 2.0, 3.0))


def obs(appearances: dict[str, int], publications: tuple[Publication, ...] = (),
        runs: tuple[Invocation, ...] = RUNS,
        audit: tuple[dict[str, Any], ...] = AUDIT,
        sessions: dict[str, int] | None = None) -> Observation:
    return Observation(SCENARIO, 1, b"", runs, audit, b"", {}, publications=publications,
                       appearances=appearances, write_sessions=sessions or {})


def test_one_appearance_passes() -> None:
    assert once(obs({STEP: 1}, (Publication(STEP, 7, 3, 1.0),)), {}) == []


def test_no_run_after_the_publish_is_not_exercised_when_every_step_ran() -> None:
    with pytest.raises(NotExercised, match="no run began after an output was published"):
        once(obs({STEP: 1}, (Publication(STEP, 7, 3, 1.0),), runs=RUNS[:1]), {})


def test_nothing_published_fails_and_says_why() -> None:
    ev = once(obs({}, audit=()), {})
    assert ev and "no step ran" in ev[0].seen
    ev = once(obs({}), {})
    assert ev and "none was published (steps that wrote one and exited 0" in ev[0].seen


def test_a_republish_polling_missed_fails_on_the_kernels_count() -> None:
    ev = once(obs({STEP: 2}, (Publication(STEP, 9, 3, 2.0),)), {})
    assert len(ev) == 1 and "put in place 2 times" in ev[0].seen


def test_a_new_inode_seen_by_polling_fails() -> None:
    ev = once(obs({}, (Publication(STEP, 7, 3, 1.0), Publication(STEP, 9, 3, 2.0))), {})
    assert len(ev) == 1 and "2 files seen under that name" in ev[0].seen


def test_a_file_seen_growing_in_one_write_is_published_once() -> None:
    """Polling may or may not catch an in-place write half done, as the scheduler has it:
    the verdict must not turn on that (outputs.atomic judges the partial file)."""
    growing = (Publication(STEP, 7, 4096, 1.0), Publication(STEP, 7, 65536, 1.1))
    assert once(obs({STEP: 1}, growing, sessions={STEP: 1}), {}) == []


def test_a_republish_in_place_fails_on_the_kernels_write_sessions() -> None:
    """Rewritten over the same inode: no new appearance, but a second write session."""
    ev = once(obs({STEP: 1}, (Publication(STEP, 7, 3, 1.0),), sessions={STEP: 2}), {})
    assert len(ev) == 1 and "written 2 times over" in ev[0].seen


def test_names_that_are_not_step_ids_are_left_to_outputs_no_temp() -> None:
    published = (Publication(STEP, 7, 3, 1.0),)
    assert once(obs({f"{STEP}.tmp": 3, STEP: 1}, published), {}) == []
