"""The hostile suite under Docker: every hostile candidate of tests/fixtures/hostile/
through `harness score`, judged by what the harness did (tests/hostile_cases.py).

Per mode, `problems` asserts: harness finishes within the bound, exits 0 or 1, prints no
traceback and writes results.json; no check and no cell is an infra_error; the headline
score is a number <= 1.0 (no fixture runs a step, so none earns more than doing nothing;
do-nothing and fake-success under every profile); the verdict names the cause harness
can see (a symlink, a FIFO, the wall-clock limit, a stream or size cap, or a limit the
sandbox counted); the decoy is byte-identical and its contents are nowhere in the output
folder; the engine reached no host listener and wrote no host path; no container, cell
folder, mount or process of the run is left; the harness's own peak memory, measured from
outside, is under 500 MB, and results.json records it (harness.peak_rss_mb); the host
held at most the mode's cap of the run's bytes at once.

The heavy ones are `serial` (HEAVY): a fork bomb or a flood takes the machine's two cores
for seconds, which would upset the timing of tests running beside it. The rest wait
more than they work (a hang, a symlink, a listener never reached) and run beside the
other tests; every assertion is about this run's own processes, containers, folders
and TMPDIR, never the machine's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile_cases import HEAVY, MODES, problems, run_case

pytestmark = pytest.mark.docker
HARD_LIMIT_S = 150
QUICK = {"do-nothing", "fake-success", "network-connect", "write-outside", "kill-all",
         "grandchild-stdout"}


def marks(mode: str) -> list[pytest.MarkDecorator]:
    return ([] if mode in QUICK else [pytest.mark.slow]) + (
        [pytest.mark.serial] if mode in HEAVY else [])


@pytest.mark.parametrize("mode", [pytest.param(m, marks=marks(m)) for m in MODES])
def test_hostile_candidate_under_docker(mode: str, tmp_path: Path) -> None:
    result = run_case(mode, "docker", tmp_path, cell_timeout=20, hard_limit_s=HARD_LIMIT_S)
    found = problems(result, HARD_LIMIT_S)
    assert not found, f"{mode} under docker:\n- " + "\n- ".join(found)
