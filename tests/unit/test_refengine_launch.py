"""The reference's launcher (candidates/reference/refengine/launch) does what launch.c says.

The committed binary is run for real: with the go-ahead it execs the command (PATH
searched as execvp does, the environment untouched, fd 3 closed, output appended to the
step's log); without it, it runs nothing. The binary must be the one its source builds:
where the local gcc is the one that built it (its .comment section names it), a rebuild
gives the same bytes. And the engine falls back to /bin/sh, then to a fork, where the
launcher cannot run, still holding every command until its go-ahead.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "candidates" / "reference"
LAUNCH = REFERENCE / "refengine" / "launch"
BINARY = LAUNCH / "launch-x86_64"
sys.path.insert(0, str(REFERENCE))
supervisor = importlib.import_module("refengine.supervisor")

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="the committed launcher is built for x86_64")


def launch(tmp_path: Path, *argv: str, go: bytes | None = b"g",
           env: dict[str, str] | None = None, log: Path | None = None, cpus: str = "-",
           bound: set[int] | None = None) -> tuple[int, str, str]:
    """Run the launcher with a go-ahead pipe on fd 3: (exit code, the log, its stderr)."""
    code, text, err, _pid = launch_pid(tmp_path, *argv, go=go, env=env, log=log, cpus=cpus,
                                       bound=bound)
    return code, text, err


def launch_pid(tmp_path: Path, *argv: str, go: bytes | None = b"g",
               env: dict[str, str] | None = None, log: Path | None = None,
               cpus: str = "-", bound: set[int] | None = None) -> tuple[int, str, str, int]:
    log = log or tmp_path / "step.log"

    def setup() -> None:
        os.dup2(r, 3)
        if bound is not None:
            os.sched_setaffinity(0, bound)

    r, w = os.pipe()
    if go is not None:
        os.write(w, go)
    os.close(w)
    try:
        proc = subprocess.Popen([str(BINARY), cpus, str(log), *argv], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=False,  # keeps only fd 3: the rest are CLOEXEC
                                preexec_fn=setup)
        _out, err = proc.communicate(timeout=10)
    finally:
        os.close(r)
    text = log.read_text() if log.exists() else ""
    return proc.returncode, text, err.decode(), proc.pid


def test_the_binary_is_static_with_no_interpreter() -> None:
    head = BINARY.read_bytes()[:64]
    assert head[:4] == b"\x7fELF" and head[4] == 2, "a 64-bit ELF"
    assert os.access(BINARY, os.X_OK)
    out = subprocess.run(["readelf", "-lW", str(BINARY)], capture_output=True, text=True)
    if out.returncode == 0:
        assert "INTERP" not in out.stdout and "DYNAMIC" not in out.stdout


def test_with_the_go_ahead_it_execs_the_command_with_its_log_as_output(tmp_path: Path) -> None:
    code, log, err = launch(tmp_path, "sh", "-c", 'echo out; echo err >&2; exit 7')
    assert (code, log, err) == (7, "out\nerr\n", "")
    code, log, _ = launch(tmp_path, "echo", "again")
    assert (code, log) == (0, "out\nerr\nagain\n"), "appended, never truncated"


def test_without_the_go_ahead_nothing_runs_and_nothing_is_created(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for go in (None, b"x"):  # EOF (the engine died) or a byte that is no go-ahead
        code, _, _ = launch(tmp_path, "touch", str(marker), go=go)
        assert code == 125 and not marker.exists()
        assert not (tmp_path / "step.log").exists(), "the log is opened after the go-ahead"


def test_the_command_keeps_the_launchers_pid_and_only_0_1_2(tmp_path: Path) -> None:
    code, log, _, pid = launch_pid(tmp_path, "sh", "-c", "echo $$")
    assert (code, log) == (0, f"{pid}\n"), "the launcher execs: the command is its process"
    code, log, _ = launch(tmp_path, "ls", "/proc/self/fd", log=tmp_path / "fds.log")
    plain = subprocess.run(["ls", "/proc/self/fd"], close_fds=False, capture_output=True,
                           text=True).stdout  # what this process hands any child anyway
    assert (code, log.split()) == (0, plain.split()), "the launcher adds no descriptor"


def test_the_environment_reaches_the_command_untouched(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "A.B": "dot", "PWD": "/nowhere", "X": "a b\tc"}
    code, log, _ = launch(tmp_path, "env", env=env)
    assert code == 0 and sorted(log.splitlines()) == sorted(f"{k}={v}" for k, v in env.items())


def test_path_is_searched_as_execvp_does(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "tool").write_text("#!/bin/sh\necho from-a\n")  # not executable: skipped
    (b / "tool").write_text("#!/bin/sh\necho from-b\n")
    (b / "tool").chmod(0o755)
    env = {"PATH": f"{tmp_path / 'none'}:{a}:{b}"}
    assert launch(tmp_path, "tool", env=env)[:2] == (0, "from-b\n")
    code, log, _ = launch(tmp_path, "tool", env={"PATH": str(a)}, log=tmp_path / "a.log")
    assert code == 126 and "cannot run 'tool': Permission denied" in log
    code, log, _ = launch(tmp_path, "no-such-tool", log=tmp_path / "n.log")
    assert code == 127 and "cannot run 'no-such-tool': No such file or directory" in log
    code, _, _ = launch(tmp_path, str(b / "tool"), env={"PATH": ""}, log=tmp_path / "s.log")
    assert code == 0, "a name with a slash is run as given, PATH unused"


def test_a_log_it_cannot_open_is_said_on_stderr_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code, _, err = launch(tmp_path, "touch", str(marker), log=tmp_path / "no" / "dir.log")
    assert code == 2 and not marker.exists()
    assert "cannot open the step's log" in err and "No such file or directory" in err


def _comment(binary: Path) -> str:
    out = subprocess.run(["readelf", "-p", ".comment", str(binary)], capture_output=True,
                         text=True)
    return out.stdout.split("]", 1)[-1].strip() if out.returncode == 0 else ""


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("readelf") is None,
                    reason="needs gcc and readelf")
def test_the_committed_binary_is_what_its_source_builds(tmp_path: Path) -> None:
    built_by = _comment(BINARY)
    local = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    if not built_by or built_by.removeprefix("GCC: ") not in local.splitlines()[0]:
        pytest.skip(f"the binary was built by {built_by!r}, this gcc is another")
    copy = tmp_path / "launch"
    shutil.copytree(LAUNCH, copy)
    (copy / "launch-x86_64").unlink()
    subprocess.run(["sh", str(copy / "build.sh")], check=True, capture_output=True)
    assert (copy / "launch-x86_64").read_bytes() == BINARY.read_bytes(), \
        "launch.c changed: run candidates/reference/refengine/launch/build.sh"


TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
ALLOWED = ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"]


@TWO_CPUS
def test_the_command_gets_the_cpus_it_is_given_back(tmp_path: Path) -> None:
    """The engine spawns the launcher bound to its own core; the command runs on the
    engine's CPUs (here 0 and 1, mask 3), not on that one core."""
    code, text, _ = launch(tmp_path, *ALLOWED, cpus="3", bound={0})
    assert code == 0 and text.split() == ["Cpus_allowed_list:", "0-1"]
    code, text, _ = launch(tmp_path, *ALLOWED, log=tmp_path / "2.log", cpus="-", bound={1})
    assert code == 0 and text.split() == ["Cpus_allowed_list:", "1"], "'-' leaves it"


@pytest.mark.parametrize("cpus", ["", "xyz", "3G", "1" * 257])
def test_a_cpu_mask_it_cannot_read_runs_nothing(tmp_path: Path, cpus: str) -> None:
    code, text, err = launch_pid(tmp_path, "sh", "-c", "echo ran", cpus=cpus)[:3]
    assert code == 2 and "usage: launch CPUS" in err and not (tmp_path / "step.log").exists()


@TWO_CPUS
def test_the_engine_binds_itself_while_it_spawns_and_the_command_runs_unbound(
        tmp_path: Path) -> None:
    own = os.sched_getaffinity(0)
    log = tmp_path / "step.log"
    try:
        proc, go_w = supervisor.spawn(tuple(ALLOWED), dict(os.environ), str(log))
        assert os.sched_getaffinity(0) == {min(own)}, "bound to one core as it spawns"
        supervisor.go_ahead(go_w)
        assert proc.wait(timeout=10) == 0
    finally:
        supervisor._bind(False)
    assert os.sched_getaffinity(0) == own
    listed = log.read_text().split()[1]
    assert listed == f"{min(own)}-{max(own)}" or "," in listed, listed


@pytest.mark.parametrize("way", ["sh", "fork"])
def test_the_engine_falls_back_and_still_holds_the_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    """Where the launcher cannot run (here: an executable that is no program), the engine
    uses sh, and forks where sh cannot carry the environment; each holds the command."""
    fake = tmp_path / "launch-fake"
    fake.write_bytes(b"\x7fELF not a program")
    fake.chmod(0o755)
    monkeypatch.setattr(supervisor, "_BINARY", str(fake))
    monkeypatch.setattr(supervisor, "_binary_ok", True)
    marker, log = tmp_path / "ran", tmp_path / "step.log"
    env = dict(os.environ, **({"A.B": "1"} if way == "fork" else {}))
    proc, go_w = supervisor.spawn(("sh", "-c", f'echo $$ > {marker}'), env, str(log))
    try:
        assert supervisor._binary_ok is False, "a launcher that cannot run is given up"
        assert os.getpgid(proc.pid) == proc.pid
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.3)  # held
        assert not marker.exists()
        assert way == "fork" or not log.exists(), "sh opens the log after the go-ahead"
    finally:
        supervisor.go_ahead(go_w)
    assert proc.wait(timeout=10) == 0
    assert marker.read_text().split() == [str(proc.pid)], "the command runs as the leader"

