"""The hostile suite under the local runner, for the modes that are safe without
isolation (tests/hostile_cases.py LOCAL_SAFE: hang, grandchild holding stdout, symlinked
and FIFO logs, stdout flood, a bounded disk fill, fake success, do-nothing). The armed
ones (fork bomb, memory bomb, zombie flood, kill -9 -1, writes outside, network) run only
under Docker (tests/docker/test_hostile.py): here they would reach the host.

The assertions are those of the Docker suite (`problems`, see there). The decoy of the
symlinked log is a file the test owns, never a real system file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile_cases import HEAVY, LOCAL_SAFE, problems, run_case

HARD_LIMIT_S = 150
QUICK = {"do-nothing", "fake-success", "grandchild-stdout"}


def marks(mode: str) -> list[pytest.MarkDecorator]:
    """The heavy modes (a flood, a disk fill) run alone, after the rest; see test_hostile."""
    return ([] if mode in QUICK else [pytest.mark.slow]) + (
        [pytest.mark.serial] if mode in HEAVY else [])


@pytest.mark.parametrize("mode", [pytest.param(m, marks=marks(m)) for m in LOCAL_SAFE])
def test_hostile_candidate_under_local_runner(mode: str, tmp_path: Path) -> None:
    result = run_case(mode, "local", tmp_path, cell_timeout=20, hard_limit_s=HARD_LIMIT_S)
    found = problems(result, HARD_LIMIT_S)
    assert not found, f"{mode} under local:\n- " + "\n- ".join(found)
