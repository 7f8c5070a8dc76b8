"""harness.replay's pure parts: the digest rewrite, and saving states from a results doc."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.replay import load_saved, redigest, save_states

STARTED = {"seq": 1, "type": "WORKFLOW_STARTED", "ts": 1, "workflow": "w", "digest": "0" * 64}


def test_redigest_sets_the_digest_of_the_first_line_and_keeps_the_rest() -> None:
    rest = b'{"seq":2,"type":"WORKFLOW_RESUMED","ts":2}\n{"seq":3,"ty'
    log = json.dumps(STARTED).encode() + b"\n" + rest
    out = redigest(log, b"new workflow")
    first, tail = out.split(b"\n", 1)
    assert json.loads(first)["digest"] == hashlib.sha256(b"new workflow").hexdigest()
    assert tail == rest and {**json.loads(first), "digest": "0" * 64} == STARTED
    for untouched in (b"", b'{"seq":1,"ty', b"[1]\n", b'{"type":"STEP_STARTED"}\n'):
        assert redigest(untouched, b"w") == untouched


def doc(files: dict[str, bytes]) -> dict[str, object]:
    first = {"model": "power_loss", "state": "power loss after 3", "explanation": "why",
             "problems": ["p"], "dirs": ["outputs"],
             "files": {k: base64.b64encode(v).decode() for k, v in files.items()}}
    cell = {"scenario": "crash-states", "seed": 4, "runner": "docker",
            "reproduce": "harness score candidates/model-a --scenario crash-states",
            "crash_states": {"first_failing": first}}
    return {"candidates": {"model-a": {"cells": [cell]}}}


def test_save_states_writes_the_bytes_and_names_the_replay(tmp_path: Path) -> None:
    files = {"events.jsonl": b"x\n\x00\x00", "outputs/a": b""}
    saved = save_states(doc(files), tmp_path)
    first = saved["candidates"]["model-a"]["cells"][0]["crash_states"]["first_failing"]
    assert first["saved"] == "states/model-a/crash-states"
    assert first["replay"].endswith("--candidate candidates/model-a --runner docker")
    back = load_saved(tmp_path / first["saved"])
    assert dict(back.files) == files and back.dirs == ("outputs",)
    assert back.meta["seed"] == 4


def test_a_path_outside_state_dir_is_refused_and_nothing_escapes(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a plain path"):
        save_states(doc({"../../evil": b"x"}), tmp_path / "out")
    assert not (tmp_path / "evil").exists()
