"""`harness intent` as a user runs it: a language without signals is named, with the file
to add, and nothing of the hint is lost to terminal markup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def intent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "intent", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_a_language_without_signals_is_not_judged_and_the_hint_survives(tmp_path: Path) -> None:
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "candidate.toml").write_text(
        'name = "z"\nlanguage = "Zig"\nentrypoint = ["./z"]\nclaims = ["durable_log"]\n')
    (tmp_path / "z" / "main.zig").write_text("pub fn main() void {}\n")
    p = intent(str(tmp_path / "z"))
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert "z: design intent not judged: no signals for Zig" in text
    assert "add scenarios/scoring/signals/zig.toml" in text  # the path, not eaten as markup
    assert "every profile scores execution alone" in text


def test_a_known_language_lists_its_signals_with_file_and_line() -> None:
    p = intent("reference")
    assert p.returncode == 0, p.stderr
    assert "reference: intent 10.00/10" in p.stdout
    assert "refengine/eventlog.py:" in p.stdout and "fsynced" in p.stdout
