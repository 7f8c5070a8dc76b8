"""--out is checked and locked before any cell runs, and a run that stops early still
writes the cells it finished.

Each refused folder exits 2 with one line naming the problem (or the run holding the
folder), before the runner is even chosen: no cell folder appears in TMPDIR."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import cli, outdir
from harness.errors import InfraError, UsageError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def score(tmp_path: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "harness", "score", "reference", "--runner",
                        "local", "--scenario", "clean-run", "--out", str(out), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "TMPDIR": str(tmp_path)})
    return p, time.monotonic() - t0


def assert_refused_before_any_cell(tmp_path: Path, p: subprocess.CompletedProcess[str],
                                   *words: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert p.stderr.startswith("error:") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert "candidate(s) x" not in p.stderr  # the runner was never chosen
    assert not [n for n in os.listdir(tmp_path) if n.startswith("harness-")]


def test_out_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.write_text("mine\n")
    p, took = score(tmp_path, target)
    assert_refused_before_any_cell(tmp_path, p, str(target), "is a file, not a folder")
    assert target.read_text() == "mine\n"
    assert took < 15  # a Python start; a cell alone takes longer than that on this runner


def test_out_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    p, _ = score(tmp_path, tmp_path / "file" / "sub" / "out")
    assert_refused_before_any_cell(tmp_path, p, f"lies below {tmp_path / 'file'}, which is a file")


def test_out_in_proc(tmp_path: Path) -> None:
    p, _ = score(tmp_path, Path("/proc/harness-no-such-folder"))
    assert_refused_before_any_cell(tmp_path, p, "/proc/harness-no-such-folder",
                                   "cannot create the folder")


def test_out_held_by_another_live_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with subprocess.Popen(
            [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
             "from harness import outdir\nwith outdir.claim(Path(sys.argv[1])):\n"
             "    print('held', flush=True)\n    time.sleep(120)\n", str(out)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            p, _ = score(tmp_path, out)
            assert_refused_before_any_cell(tmp_path, p, "in use by another harness run",
                                           f"pid {holder.pid} on host", "started 20")
            assert not (out / "results.json").exists()
        finally:
            holder.kill()
    with outdir.claim(out):  # the kernel dropped the dead holder's lock
        pass


def test_report_out_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    p = subprocess.run([sys.executable, "-m", "harness", "report", str(tmp_path / "r.json"),
                        "--out", str(tmp_path / "file")], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr  # r.json is missing
    good = tmp_path / "good"
    first, _ = score(tmp_path, good)
    assert first.returncode == 0, first.stderr
    p = subprocess.run([sys.executable, "-m", "harness", "report", str(good / "results.json"),
                        "--out", str(tmp_path / "file")], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "is a file, not a folder" in p.stderr, p.stderr


def test_claim_refuses_in_process_with_usage_errors(tmp_path: Path) -> None:
    with outdir.claim(tmp_path / "a") as held:
        info = json.loads((held / outdir.LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"), outdir.claim(held):
            pass


@pytest.mark.slow
def test_sigterm_mid_run_writes_the_finished_cells(tmp_path: Path) -> None:
    """reference finishes its cell; the hanging candidate's cell is running when SIGTERM
    comes: exit 130, and results.json holds the finished cell, marked incomplete."""
    hang = tmp_path / "hang"
    hang.mkdir()
    (hang / "hostile_engine.py").write_bytes((FIXTURES / "hostile_engine.py").read_bytes())
    (hang / "candidate.toml").write_text('name = "hang"\nlanguage = "python"\n'
                                         'entrypoint = ["python3", "hostile_engine.py", "hang"]\n')
    out = tmp_path / "out"
    with subprocess.Popen([sys.executable, "-m", "harness", "score", "reference", str(hang),
                           "--runner", "local", "--scenarios", str(FIXTURES / "limit"),
                           "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "TMPDIR": str(tmp_path)}) as proc:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "reference / one-step" in line:
                break
        time.sleep(1.0)  # the hanging cell is running now
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(60) == 130, "".join(lines) + rest
    assert "Traceback" not in rest and "wrote the 1 finished cell(s)" in rest, rest
    doc = json.loads((out / "results.json").read_text())
    assert doc["complete"] is False and "interrupted" in doc["stopped"]
    assert len(doc["candidates"]["reference"]["cells"]) == 1
    assert doc["candidates"]["hang"]["cells"] == []
    assert "This run stopped before its last cell (interrupted" in (out / "index.html").read_text()


def test_an_internal_failure_is_one_line_and_exit_3(tmp_path: Path) -> None:
    def broken() -> None:
        raise KeyError("a harness bug")

    stopped = cli.run_cells(broken, tmp_path)
    assert stopped is not None and stopped.code == 3
    assert "internal error: KeyError" in stopped.why and "\n" not in stopped.why
    assert "KeyError" in (tmp_path / cli.CRASH_LOG).read_text()  # the traceback, kept

    def infra() -> None:
        raise InfraError("the daemon went away")

    assert cli.run_cells(infra, tmp_path) == cli.Stopped(3, "the daemon went away")
