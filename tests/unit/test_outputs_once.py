"""outputs.once on hand-made observations: the kernel's count of appearances catches a
republish that polling never saw (it came too soon after the first publish)."""

from __future__ import annotations

from harness import api
from harness.checks.outputs import once
from harness.observe import Observation, Publication

SCENARIO = api.all_scenarios(pattern="duplicate-outputs")[0]
STEP = SCENARIO.workflow["steps"][0]["id"]


def obs(appearances: dict[str, int], publications: tuple[Publication, ...] = ()) -> Observation:
    return Observation(SCENARIO, 1, b"", (), (), b"", {}, publications=publications,
                       appearances=appearances)


def test_one_appearance_passes() -> None:
    assert once(obs({STEP: 1}, (Publication(STEP, 7, 3, 1.0),)), {}) == []


def test_a_republish_polling_missed_fails_on_the_kernels_count() -> None:
    ev = once(obs({STEP: 2}, (Publication(STEP, 9, 3, 2.0),)), {})
    assert len(ev) == 1 and "put in place 2 times" in ev[0].seen


def test_a_new_inode_seen_by_polling_fails() -> None:
    ev = once(obs({}, (Publication(STEP, 7, 3, 1.0), Publication(STEP, 9, 3, 2.0))), {})
    assert len(ev) == 1 and "2 versions seen" in ev[0].seen


def test_names_that_are_not_step_ids_are_left_to_outputs_no_temp() -> None:
    assert once(obs({f"{STEP}.tmp": 3}), {}) == []
