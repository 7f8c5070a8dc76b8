"""Run a candidate's clean-run directly under `strace_argv`, outside the runners.

Shared by the integration tests that judge recorded traces (test_trace_reference,
test_trace_rules): the engine runs in a temporary folder with the environment TASK.md
promises (PATH, HOME, TMPDIR, LANG) and the probe as every step's command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from harness.manifest import load_candidate
from harness.runners.local import PROBE
from harness.scenario import workflow_bytes
from harness.trace import parse_trace, strace_argv
from harness.trace.strace import Call
from harness.tree import candidate_files


def merged(candidate: Path, into: Path) -> Path:
    """The candidate's merged file tree (a mutant's files over the reference's), copied."""
    for rel, path in candidate_files(load_candidate(candidate)):
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, into / rel)
    return into


def run_traced(root: Path, tmp: Path, source: Path) -> tuple[list[Call], Path, dict[str, list[str]]]:
    """The candidate folder `source` run once on clean-run under strace in `tmp`: its
    parsed trace, its STATE_DIR, and the workflow's step -> depends_on."""
    scenario = tomllib.loads((root / "scenarios" / "clean-run.toml").read_text())
    audit, state, trace = tmp / "audit.jsonl", tmp / "work" / "state", tmp / "trace.txt"
    (tmp / "work").mkdir()
    (tmp / "home").mkdir()
    wf = tmp / "workflow.json"
    wf.write_bytes(workflow_bytes(scenario["workflow"], [sys.executable, "-I", "-S", str(PROBE)],
                                  str(audit)))
    entry = tomllib.loads((source / "candidate.toml").read_text())["entrypoint"]
    candidate = merged(source, tmp / "engine")
    env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
           "HOME": str(tmp / "home"), "TMPDIR": str(tmp / "home"), "LANG": "C.UTF-8"}
    argv = strace_argv([*entry, "run", str(wf), str(state)], str(trace))
    done = subprocess.run(argv, cwd=candidate, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    deps = {s["id"]: list(s.get("depends_on", [])) for s in scenario["workflow"]["steps"]}
    return parse_trace(trace.read_text()), state, deps
