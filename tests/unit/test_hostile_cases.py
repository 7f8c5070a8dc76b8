"""The hostile suite's own safety and judgement (tests/hostile_cases.py), without a harness run.

The dangerous fixtures must do nothing unless armed, the local runner must never get an
armed one, and `problems` must name each way a harness can fail a case: a judge that
cannot fail would make the hostile suite assert nothing.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.hostile_cases import FIXTURES, LOCAL_SAFE, MODES, ROOT, Result, prepare, problems

ARMED = sorted(m for m in MODES if MODES[m].armed)


@pytest.mark.parametrize("mode", ARMED)
def test_dangerous_fixture_does_nothing_unless_armed(mode: str, tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(FIXTURES / mode / "engine.py"), "run",
                        str(tmp_path / "wf.json"), str(tmp_path / "state")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "not armed" in p.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("mode", ARMED)
def test_armed_modes_never_run_locally(mode: str, tmp_path: Path) -> None:
    assert mode not in LOCAL_SAFE
    with pytest.raises(ValueError, match="only ever run under Docker"):
        prepare(MODES[mode], "local", tmp_path, ROOT)


def test_every_fixture_has_a_mode_and_a_manifest() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders == set(MODES)
    for name in folders:
        assert f'name = "hostile-{name}"' in (FIXTURES / name / "candidate.toml").read_text()


def good(mode: str) -> Result:
    return Result(mode, "docker", [], exit_code=0, wall_s=10, results_written=True, score=0.0,
                  profile_scores={"execution-first": 0.0, "design-first": 0.0},
                  causes=[MODES[mode].cause] if MODES[mode].cause else [],
                  cause_quotes=[f"{MODES[mode].cause} x: the engine's stdout; work/state/"
                                f"events.jsonl is a {MODES[mode].cause}"] if MODES[mode].cause else [],
                  harness_peak_rss_mb=80.0, hwm_mb=80.0, rss_max_mb=79.0,
                  decoy_unchanged=True if mode == "symlink-log" else None)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_sound_run_has_no_problems(mode: str) -> None:
    assert problems(good(mode)) == []


@pytest.mark.parametrize(("change", "says"), [
    ({"hung": True, "exit_code": None}, "did not finish"),
    ({"exit_code": 3}, "exit code 3"),
    ({"traceback": True}, "traceback"),
    ({"results_written": False}, "no results.json"),
    ({"cell_infra": ["clean-run: the daemon broke"]}, "infra_error"),
    ({"score": 6.64}, "score 6.64"),
    ({"score": None}, "score None"),
    ({"causes": [], "cause_quotes": []}, "names the cause"),
    ({"decoy_unchanged": False}, "decoy changed"),
    ({"decoy_leaked_in": ["index.html"]}, "index.html"),
    ({"listener_hits": 1}, "listener"),
    ({"outside_written": ["/etc/hostile-x"]}, "outside its cell"),
    ({"left_containers": ["harness-1-2"]}, "left containers"),
    ({"left_dirs": ["/tmp/harness-docker-x"]}, "left dirs"),
    ({"left_mounts": ["/tmp/x/cell/work"]}, "left mounts"),
    ({"left_processes": ["123 python3 engine.py"]}, "left processes"),
    ({"hwm_mb": 8600.0}, "peak memory 8600.0"),
    ({"harness_peak_rss_mb": None}, "peak_rss_mb"),
    ({"tmp_peak_mb": 3072.0}, "cap 1024 MB"),
])
def test_each_failure_is_named(change: dict[str, object], says: str) -> None:
    r = replace(good("disk-fill"), **change)  # type: ignore[arg-type]
    assert any(says in p for p in problems(r)), problems(r)


def test_every_profile_counts_for_do_nothing() -> None:
    r = replace(good("do-nothing"), profile_scores={"execution-first": 0.0, "design-first": 2.7})
    assert any("design-first" in p for p in problems(r))


def test_a_counted_limit_names_a_bomb_but_not_a_hang() -> None:
    assert problems(replace(good("fork-bomb"), causes=[], cause_quotes=[],
                            limits_hit={"pids_max": 3})) == []
    assert problems(replace(good("hang"), causes=[], cause_quotes=[], limits_hit={"pids_max": 3}))


def test_a_link_named_elsewhere_does_not_name_the_symlinked_log() -> None:
    quote = "symlink outputs.published: outputs/ is a symlink"
    assert problems(replace(good("symlink-log"), cause_quotes=[quote]))
