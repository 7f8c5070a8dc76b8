"""The first failing crash state is saved byte for byte under the run's output, and
`harness replay-state` resumes it: the broken engine runs the succeeded step again, the
reference does not."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import cli
from tests.fixtures.defects import broken

pytestmark = pytest.mark.slow


def test_a_failing_state_is_saved_and_replays_with_the_same_defect(tmp_path: Path) -> None:
    cand = broken(tmp_path / "c", "forgets-successes")
    out = tmp_path / "out"
    done = CliRunner().invoke(cli.main, ["score", str(cand.path), "--scenario", "crash-states",
                                         "--runner", "local", "--out", str(out)])
    assert done.exit_code == 0 and "states.no_rerun" in done.output, done.output
    doc = json.loads((out / "results.json").read_text())
    [cell] = doc["candidates"][cand.name]["cells"]
    first = cell["crash_states"]["first_failing"]
    folder = out / "states" / cand.name / "crash-states"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["state"] == first["state"] and meta["files"] == sorted(first["files"])
    for rel, data in first["files"].items():  # byte for byte what the harness built
        assert (folder / "state" / rel).read_bytes() == base64.b64decode(data)
    html = (out / "index.html").read_text()
    command = f"harness replay-state {folder} --candidate {cand.path} --runner local"
    assert command in html

    again = "ran again though the state's log holds their STEP_SUCCEEDED"
    replayed = CliRunner().invoke(cli.main, command.split()[1:])
    assert replayed.exit_code == 0, replayed.output
    assert again in replayed.output and "run: " in replayed.output
    fixed = CliRunner().invoke(cli.main, ["replay-state", str(folder), "--candidate",
                                          "reference", "--runner", "local"])
    assert fixed.exit_code == 0, fixed.output
    assert again not in fixed.output and "WORKFLOW_SUCCEEDED" in fixed.output


def test_a_folder_that_holds_no_saved_state_is_a_clear_error(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli.main, ["replay-state", str(tmp_path), "--candidate",
                                         "reference"])
    assert done.exit_code == 2 and "no meta.json" in done.output
    assert "Traceback" not in done.output
    (tmp_path / "meta.json").write_text(json.dumps({"files": ["../escape"]}))
    done = CliRunner().invoke(cli.main, ["replay-state", str(tmp_path), "--candidate",
                                         "reference"])
    assert done.exit_code == 2 and "not a plain path" in done.output
