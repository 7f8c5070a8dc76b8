"""Saved crash states: the first failing state of a run, kept byte for byte, and its replay.

`save_states` writes, for every crash-states cell with a failure, the first failing
state under the run's output folder, ``OUT/states/CANDIDATE/SCENARIO[-tTRIAL]/``:
``state/`` holds STATE_DIR's files exactly as the harness built them, and ``meta.json``
says which state it was, why it was made (the one-line explanation), what failed, and the
scenario and seed that made it. The results carry the files (`harness.checks.states`
keeps them only up to `SAVE_CAP`), so `harness report` saves them again from a
results.json alone.

`replay` runs `status`, then `run`, on such a folder, in a fresh cell of any runner: the
scenario's workflow is written for the new cell (its probe and audit paths), and the
`digest` of the state's WORKFLOW_STARTED line is set to that workflow's sha256, the
one change made to the saved bytes, so that the engine resumes instead of refusing a
changed workflow. It returns what each invocation did, and the log after.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.beneath import plain
from harness.errors import UsageError
from harness.layout import STATE, WORKFLOW
from harness.observe import Invocation
from harness.report.results import write_atomic

META = "meta.json"


def _safe(rel: str) -> str:
    if not plain(rel):
        raise UsageError(f"a saved state's path {rel!r} is not a plain path inside STATE_DIR")
    return rel


def _folder_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:120] or "_"


def save_states(doc: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """doc, with each saved state's folder and replay command in its first_failing; the
    states written under out/states/."""
    doc = dict(copy.deepcopy(doc))
    for name, cand in doc.get("candidates", {}).items():
        for cell in cand.get("cells", []):
            first = (cell.get("crash_states") or {}).get("first_failing")
            if not isinstance(first, dict) or not isinstance(first.get("files"), dict):
                continue
            trial = int(cell.get("trial", 0))
            sub = f"{cell['scenario']}" + (f"-t{trial}" if trial else "")
            folder = out / "states" / _folder_name(str(name)) / _folder_name(sub)
            _write_state(folder, first, cell)
            words = shlex.split(str(cell.get("reproduce", "")))
            cand_path = words[2] if len(words) > 2 else str(name)
            first["saved"] = str(folder.relative_to(out))
            first["replay"] = shlex.join(["harness", "replay-state", str(folder),
                                          "--candidate", cand_path,
                                          "--runner", str(cell.get("runner", "auto"))])
    return doc


def _write_state(folder: Path, first: Mapping[str, Any], cell: Mapping[str, Any]) -> None:
    try:
        for rel in first.get("dirs", []):
            (folder / "state" / _safe(str(rel))).mkdir(parents=True, exist_ok=True)
        (folder / "state").mkdir(parents=True, exist_ok=True)
        for rel, data in first["files"].items():
            path = folder / "state" / _safe(str(rel))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, base64.b64decode(str(data), validate=True))
        meta = {k: first.get(k) for k in ("model", "state", "explanation", "problems", "dirs")}
        meta.update(scenario=cell.get("scenario"), seed=cell.get("seed"),
                    trial=cell.get("trial", 0), runner=cell.get("runner"),
                    files=sorted(first["files"]))
        write_atomic(folder / META, (json.dumps(meta, indent=2) + "\n").encode())
    except (OSError, binascii.Error, ValueError) as exc:
        raise UsageError(f"cannot save the crash state under {folder}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Saved:
    """A saved state read back: its meta and its files."""

    meta: Mapping[str, Any]
    files: Mapping[str, bytes]
    dirs: tuple[str, ...]


def load_saved(folder: Path) -> Saved:
    """The saved state in folder; UsageError names what is missing or wrong."""
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        raise UsageError(f"{folder}: no {META}: not a folder that harness saved a crash"
                         " state in") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{folder}/{META}: cannot be read: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), list):
        raise UsageError(f"{folder}/{META}: not a saved state's meta (no list of files)")
    files = {}
    for rel in meta["files"]:
        path = folder / "state" / _safe(str(rel))
        try:
            files[str(rel)] = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    dirs = tuple(_safe(str(d)) for d in meta.get("dirs") or [])
    return Saved(meta, files, dirs)


def redigest(log: bytes, workflow: bytes) -> bytes:
    """log with its WORKFLOW_STARTED line's digest set to workflow's sha256 (a first line
    that is not a complete JSON object is left as it is)."""
    end = log.find(b"\n")
    if end < 0:
        return log
    try:
        first = json.loads(log[:end])
    except ValueError:
        return log
    if not isinstance(first, dict) or first.get("type") != "WORKFLOW_STARTED":
        return log
    first["digest"] = hashlib.sha256(workflow).hexdigest()
    return json.dumps(first, separators=(",", ":")).encode() + log[end:]


@dataclass(frozen=True, slots=True)
class Replayed:
    status: Invocation
    run: Invocation
    log_after: bytes
    steps_started: tuple[str, ...]  # per the probes' audit, in order


def replay(saved: Saved, runner: Any, candidate: Any, scenario: Any) -> Replayed:
    """status, then run, on the saved state in a fresh cell of runner."""
    from harness.faults.inject import Watcher, drive, read_log
    from harness.layout import AUDIT
    from harness.scenario import workflow_bytes

    cell = runner.open_cell(candidate, f"{candidate.name}-replay")
    watcher = None
    try:
        watcher = Watcher(cell)
        files = watcher.files
        workflow = workflow_bytes(scenario.workflow, cell.probe_argv(), cell.engine_path(AUDIT))
        files.write(WORKFLOW, workflow)
        files.make_tree(STATE, saved.dirs, (
            (rel, redigest(data, workflow) if rel == "events.jsonl" else data)
            for rel, data in sorted(saved.files.items())))
        cell.hand_over(STATE)
        status = drive(cell, watcher, ["status", cell.engine_path(STATE)], label="status",
                       bound_s=60)
        run = drive(cell, watcher, ["run", cell.engine_path(WORKFLOW), cell.engine_path(STATE)],
                    label="run", bound_s=120)
        steps = tuple(str(r.get("step")) for r in watcher.audit() if r.get("kind") == "start")
        return Replayed(status, run, read_log(files) or b"", steps)
    finally:
        if watcher is not None:
            watcher.close()
        cell.close()
