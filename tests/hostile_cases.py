"""The hostile suite's shared half: run one hostile candidate through `harness score` as a
subprocess, measure the harness from outside, and say what went wrong.

`tests/docker/test_hostile.py`, `tests/integration/test_hostile_local.py` and
`bench/hostile.py` all go through `run_case` (one mode x one runner) and `problems` (what
the finished harness did wrong, against the behaviour issue 18 asks for), so the tests
and the before/after table measure the same thing the same way.

A case runs in a folder of its own: a copy of the fixture with `hostile.json` planted
beside the engine (the decoy, the listener's address, the host paths to try, size caps),
a small scenario folder, the output folder, and the harness's TMPDIR. A private TMPDIR
makes "what did this run leave behind, and how much did it put on the host" exact: every
cell folder of the run lives under it, and other harness runs on the machine are never
touched. The harness runs in its own session, under a hard time limit; past it the
whole process group gets SIGTERM, then SIGKILL, and the case is "hung".

Measured from outside: the exit code and wall time; a traceback on stderr; the harness
process's own peak memory (VmHWM and VmRSS from /proc every 0.1 s; wait4's ru_maxrss is
kept too, but it also counts every descendant the harness waited for, engines included
under the local runner); the peak size of its TMPDIR (every second); and afterwards its
containers, cell folders, mounts and processes. Then everything left is removed, by
label, path and pid of this run only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "hostile"
MB = 1 << 20

CLEAN = ("clean-run",)
VACUOUS = ("clean-run", "crash-loop")
LOG = ("clean-run", "crash-loop", "torn-tail", "corrupt-middle")

# What a failed check's evidence may say for each kind of cause (case-insensitive).
CAUSES = {
    "symlink": r"symlink|symbolic link",
    "fifo": r"\bfifo\b|named pipe",
    "limit": r"\blimits?\b",
    "cap": r"\bcap(s|ped)?\b|\bcut\b|\bdropped\b|\btruncated\b",
}


@dataclass(frozen=True, slots=True)
class Mode:
    """One hostile behaviour and what a sound harness does about it.

    armed: the fixture is dangerous outside a sandbox (it acts only when armed, and only
    Docker cases arm it). cause: a key of CAUSES that some failed check's evidence must
    match; with limits_count, a limit the cell's sandbox counted (limits_hit) also names
    it; subject: the words around the cause must also match this. score_max: the
    highest headline score allowed; every_profile: under every profile. host_cap: the
    most bytes the harness's TMPDIR may hold at any moment."""

    name: str
    scenarios: tuple[str, ...]
    armed: bool = False
    cause: str | None = None
    subject: str | None = None  # a regex: the cause must be named beside it (what it is about)
    limits_count: bool = False
    score_max: float = 1.0
    every_profile: bool = False
    host_cap: int | None = None
    config: tuple[tuple[str, Any], ...] = ()
    local_config: tuple[tuple[str, Any], ...] = ()


# Every fixture runs no step of the workflow, so none deserves more than an engine that
# does nothing: the bound for do-nothing and fake-success (1.0) holds for all.
MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("fork-bomb", CLEAN, armed=True, cause="limit", limits_count=True),
    Mode("memory-bomb", CLEAN, armed=True, cause="limit", limits_count=True),
    Mode("zombie-flood", CLEAN, armed=True, cause="limit", limits_count=True,
         config=(("count", 5000),)),
    # 1 GiB per stream and invocation; kept: 4 MiB per stream, so 64 MiB is ample.
    Mode("stdout-flood", CLEAN, cause="cap", subject=r"stdout|stderr", host_cap=64 * MB,
         config=(("flood_bytes", 1 << 30),)),
    # Unbounded, it puts about 1.3 GB in the cell (256 MiB of log, a 1 GiB blob, 20000
    # files); a bounded cell holds its size limit. Under local the log alone (256 MiB)
    # is what matters: a harness that keeps whole copies of it passes 500 MB.
    Mode("disk-fill", CLEAN, cause="cap", host_cap=1 << 30,
         config=(("log_bytes", 256 * MB), ("fill_bytes", 1 << 30), ("files", 20000)),
         local_config=(("fill_bytes", 64 * MB), ("files", 5000))),
    Mode("network-connect", CLEAN, armed=True),
    Mode("write-outside", CLEAN, armed=True),
    Mode("kill-all", CLEAN, armed=True),
    Mode("hang", CLEAN, cause="limit"),
    Mode("grandchild-stdout", CLEAN),
    Mode("symlink-log", LOG, cause="symlink", subject=r"events\.jsonl"),
    Mode("fifo-log", LOG, cause="fifo", subject=r"events\.jsonl"),
    Mode("fake-success", VACUOUS, every_profile=True),
    Mode("do-nothing", VACUOUS, every_profile=True),
)}
LOCAL_SAFE = tuple(m for m in MODES if not MODES[m].armed)
# The modes that take the machine's cores or disk for seconds: their tests run alone.
HEAVY = frozenset({"fork-bomb", "memory-bomb", "zombie-flood", "stdout-flood", "disk-fill"})


@dataclass
class Result:
    """What one case did, as measured; `problems` judges it."""

    mode: str
    runner: str
    command: list[str]
    exit_code: int | None = None
    wall_s: float = 0.0
    hung: bool = False
    traceback: bool = False
    stderr_tail: str = ""
    score: float | None = None
    profile_scores: dict[str, float | None] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    infra: list[str] = field(default_factory=list)
    cell_infra: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)  # keys of CAUSES found in failed evidence
    cause_quotes: list[str] = field(default_factory=list)  # "check: ...the words around it..."
    limits_hit: dict[str, int] = field(default_factory=dict)
    results_written: bool = False
    harness_peak_rss_mb: float | None = None  # results.json["harness"]["peak_rss_mb"]
    hwm_mb: float = 0.0  # the harness process's own peak (VmHWM), last seen
    rss_max_mb: float = 0.0  # VmRSS sampled every 0.1 s
    wait4_maxrss_mb: float = 0.0  # includes descendants it waited for
    tmp_peak_mb: float = 0.0
    decoy_unchanged: bool | None = None
    decoy_leaked_in: list[str] = field(default_factory=list)
    listener_hits: int | None = None
    outside_written: list[str] = field(default_factory=list)
    left_containers: list[str] = field(default_factory=list)
    left_dirs: list[str] = field(default_factory=list)
    left_mounts: list[str] = field(default_factory=list)
    left_processes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- setting a case up ---------------------------------------------------------------------

def decoy_text(token: str) -> str:
    """A passwd-like file whose every line carries the case's token."""
    users = ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
             "bin:x:2:2:bin:/bin:/usr/sbin/nologin", "sys:x:3:3:sys:/dev:/usr/sbin/nologin"]
    return "".join(f"{u.replace(':x:', f':decoy-{token}:', 1)}\n" for u in users * 5)


class Listener:
    """A TCP and a UDP socket on 127.0.0.1 that count what reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import select
        while not self._stop.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.1)
            for s in ready:
                if s is self.tcp:
                    conn, _ = self.tcp.accept()
                    conn.close()
                else:
                    s.recvfrom(4096)
                self.hits += 1

    def close(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self.tcp.close()
        self.udp.close()
        return self.hits


@dataclass
class Setup:
    dir: Path
    candidate: Path
    scenarios: Path
    out: Path
    tmp: Path
    decoy: Path | None = None
    decoy_sha: str = ""
    token: str = ""
    outside: list[Path] = field(default_factory=list)
    listener: Listener | None = None
    varies: bool = False  # hostile.json differs from case to case (so does the image)
    started: float = field(default_factory=time.time)


def prepare(mode: Mode, runner: str, base: Path, checkout: Path) -> Setup:
    token = uuid.uuid4().hex[:12]
    d = base / f"{mode.name}-{runner}-{token}"
    s = Setup(d, d / "candidate", d / "scenarios", d / "out", d / "tmp", token=token)
    shutil.copytree(FIXTURES / mode.name, s.candidate)
    s.scenarios.mkdir()
    for name in mode.scenarios:
        shutil.copy2(checkout / "scenarios" / f"{name}.toml", s.scenarios)
    s.tmp.mkdir()
    config = {**dict(mode.config), **(dict(mode.local_config) if runner == "local" else {})}
    if mode.armed:
        if runner != "docker":
            raise ValueError(f"{mode.name} is only ever run under Docker")
        config["armed"] = True
    if mode.name == "symlink-log":  # the decoy's folder holds the decoy alone
        s.decoy = d / "decoy" / "passwd"
        s.decoy.parent.mkdir()
        s.decoy.write_text(decoy_text(token))
        s.decoy_sha = hashlib.sha256(s.decoy.read_bytes()).hexdigest()
        config["decoy"] = str(s.decoy)
    if mode.name == "network-connect":
        s.listener = Listener()
        config["targets"] = [f"127.0.0.1:{s.listener.port}"]
    if mode.name == "write-outside":
        (d / "outside").mkdir()
        s.outside = [d / "outside" / "planted", Path(f"/etc/hostile-{token}"),
                     Path(f"/tmp/hostile-{token}")]
        config["paths"] = [str(p) for p in s.outside]
    s.varies = bool({"decoy", "targets", "paths"} & set(config))
    (s.candidate / "hostile.json").write_text(json.dumps(config))
    return s


# -- running the harness -------------------------------------------------------------------

class Sampler:
    """Samples the harness's memory (0.1 s) and its TMPDIR's size (1 s) in a thread."""

    def __init__(self, pid: int, tmp: Path) -> None:
        self.pid, self.tmp = pid, tmp
        self.hwm_kb = self.rss_kb = 0
        self.tmp_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_du = 0.0
        while not self._stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith(("VmHWM:", "VmRSS:")):
                            kb = int(line.split()[1])
                            if line.startswith("VmHWM:"):
                                self.hwm_kb = max(self.hwm_kb, kb)
                            else:
                                self.rss_kb = max(self.rss_kb, kb)
            except (OSError, ValueError):
                pass
            if time.monotonic() >= next_du:
                self.tmp_peak = max(self.tmp_peak, disk_usage(self.tmp))
                next_du = time.monotonic() + 1.0
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def disk_usage(folder: Path) -> int:
    """Bytes the files under folder occupy, never following a link."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def harness_command(python: str, s: Setup, runner: str, cell_timeout: float) -> list[str]:
    return [python, "-m", "harness", "score", str(s.candidate), "--runner", runner,
            "--scenarios", str(s.scenarios), "--cell-timeout", str(cell_timeout),
            "--seed", "1", "--out", str(s.out)]


def run_harness(cmd: list[str], s: Setup, checkout: Path, hard_limit_s: float,
                r: Result) -> int:
    """Run the harness to its end or its hard limit; returns its pid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env["TMPDIR"] = str(s.tmp)
    start = time.monotonic()
    with open(s.dir / "stdout", "wb") as out, open(s.dir / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
    sampler = Sampler(proc.pid, s.tmp)
    status, usage = _wait(proc.pid, start + hard_limit_s)
    if status is None:
        r.hung = True
        status, usage = _end_group(proc.pid)
    r.wall_s = round(time.monotonic() - start, 2)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    sampler.stop()
    r.exit_code = None if r.hung else proc.returncode
    r.wait4_maxrss_mb = round(usage.ru_maxrss / 1024, 1)
    r.hwm_mb, r.rss_max_mb = round(sampler.hwm_kb / 1024, 1), round(sampler.rss_kb / 1024, 1)
    r.tmp_peak_mb = round(sampler.tmp_peak / MB, 1)
    return proc.pid


def _wait(pid: int, deadline: float) -> tuple[int | None, Any]:
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            return status, usage
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.05)


def _end_group(pid: int) -> tuple[int, Any]:
    """SIGTERM to the harness's group (it cleans up as on Ctrl-C), SIGKILL 15 s later."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 60.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        status, usage = _wait(pid, time.monotonic() + grace)
        if status is not None:
            return status, usage
    _, status, usage = os.wait4(pid, 0)
    return status, usage


# -- reading what it did -------------------------------------------------------------------

def read_results(s: Setup, mode: Mode, r: Result) -> None:
    path = s.out / "results.json"
    try:
        doc = json.loads(path.read_text())
        cand = doc["candidates"][f"hostile-{mode.name}"]
    except (OSError, ValueError, KeyError):
        return
    r.results_written = True
    r.harness_peak_rss_mb = (doc.get("harness") or {}).get("peak_rss_mb")
    r.score = cand.get("score")
    r.profile_scores = {p: v.get("score") for p, v in cand.get("profiles", {}).items()}
    for c in cand.get("checks", []):
        name = f"{c['scenario']}:{c['check']}"
        r.outcomes[c["outcome"]] = r.outcomes.get(c["outcome"], 0) + 1
        if c["outcome"] == "fail":
            r.failed.append(name)
            quote_causes(r, name, json.dumps([c.get("evidence"), c.get("detail")]))
        elif c["outcome"] == "infra_error":
            r.infra.append(name)
    for cell in cand.get("cells", []):
        if cell.get("infra_error"):
            r.cell_infra.append(f"{cell['scenario']}: {cell['infra_error']}")
        for k, v in ((cell.get("sandbox") or {}).get("limits_hit") or {}).items():
            r.limits_hit[k] = r.limits_hit.get(k, 0) + int(v)


def quote_causes(r: Result, check: str, text: str) -> None:
    """Note which causes the text names, with the words around the first mention.

    Absolute paths and the candidate's name are left out first: the cell folders and the
    reproduce commands carry the mode's name ("hostile-symlink-log"), which names nothing."""
    text = re.sub(r"(?<![\w.])/[^\s\"'`,;:)]*", "/...", text).replace(f"hostile-{r.mode}", "...")
    for key, rx in CAUSES.items():
        for i, m in enumerate(re.finditer(rx, text, re.IGNORECASE)):
            if key not in r.causes:
                r.causes.append(key)
            # Every mention of a check, not its first only (a check's text can name the
            # cause twice, once far from the subject), and a few checks' worth in all.
            if i >= 4 or sum(q.startswith(f"{key} ") for q in r.cause_quotes) >= 12:
                break
            r.cause_quotes.append(f"{key} {check}: {text[max(0, m.start() - 150):m.end() + 150]}")


def read_stderr(s: Setup, r: Result) -> None:
    """Whether stderr holds a traceback, and its tail (read in pieces: it may be big)."""
    with open(s.dir / "stderr", "rb") as f:
        tail = b""
        while chunk := f.read(MB):
            if b"Traceback (most recent call last)" in tail[-64:] + chunk:
                r.traceback = True
            tail = (tail + chunk)[-4000:]
    r.stderr_tail = tail.decode(errors="replace")


def leaked_in(folder: Path, needle: bytes) -> list[str]:
    """Files under folder that hold needle."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        with open(path, "rb") as f:
            prev = b""
            while chunk := f.read(MB):
                if needle in prev + chunk:
                    found.append(path.name)
                    break
                prev = chunk[-len(needle):]
    return found


# -- leftovers -----------------------------------------------------------------------------

def _docker_client() -> Any:
    try:
        import docker
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception:  # no daemon: no containers can be left
        return None


def containers_of(client: Any, pid: int, tmp: Path) -> list[dict[str, Any]]:
    """Harness containers of this run: owned by its pid, or with a cell folder in its TMPDIR."""
    if client is None:
        return []
    rows = client.api.containers(all=True, filters={"label": "harness.managed=1"})
    return [c for c in rows
            if (c.get("Labels") or {}).get("harness.owner.pid") == str(pid)
            or (c.get("Labels") or {}).get("harness.cell_dir", "").startswith(f"{tmp}/")]


def cell_dirs_of(pid: int, tmp: Path) -> list[Path]:
    """Cell folders of this run: anything in its TMPDIR, and /tmp/harness-* it owns."""
    found = sorted(tmp.iterdir()) if tmp.is_dir() else []
    for p in Path("/tmp").glob("harness-*"):
        try:
            if (p / "owner").read_text().split()[1] == str(pid):
                found.append(p)
        except (OSError, IndexError):
            pass
    return found


def mounts_under(folders: list[Path]) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [m for m in points if any(m == str(d) or m.startswith(f"{d}/") for d in folders)]


def processes_under(folder: Path, skip: set[int]) -> list[tuple[int, str]]:
    """Processes whose working directory or command line is in folder (the case's)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmd:
            found.append((int(entry), cmd.strip()[:200]))
    return found


def leftovers(s: Setup, pid: int, r: Result) -> None:
    """Record what the run left behind, then remove it (this run's only)."""
    client = _docker_client()
    boxes = containers_of(client, pid, s.tmp)
    dirs = cell_dirs_of(pid, s.tmp)
    procs = processes_under(s.dir, {os.getpid()})
    r.left_containers = [(c.get("Names") or ["?"])[0].lstrip("/") for c in boxes]
    r.left_dirs = [str(d) for d in dirs]
    r.left_mounts = mounts_under([s.tmp, *dirs])
    r.left_processes = [f"{p} {cmd}" for p, cmd in procs]
    for c in boxes:
        try:
            client.api.remove_container(c["Id"], force=True)
        except Exception:
            pass
    for p, _ in procs:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for m in sorted(r.left_mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, check=False)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    if client is not None and s.varies:
        drop_images(client, r.mode, s.started)


def drop_images(client: Any, mode: str, since: float) -> None:
    """Remove the candidate images this case built. A decoy path, a port or a host path
    planted in hostile.json makes each case's image new, so the cache would only grow;
    the images of fixtures planted the same every time stay cached."""
    for img in client.images.list(filters={"label": f"harness.candidate=hostile-{mode}"}):
        if img.attrs.get("Created", "") >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)):
            try:
                client.images.remove(img.id, force=True)
            except Exception:  # in use by a container another run still has: it stays
                pass


# -- one case ------------------------------------------------------------------------------

def run_case(mode_name: str, runner: str, base: Path, *, python: str = sys.executable,
             checkout: Path = ROOT, cell_timeout: float = 20, hard_limit_s: float = 180,
             keep: bool = False) -> Result:
    """Run one hostile mode under one runner and measure it; everything is cleaned up."""
    mode = MODES[mode_name]
    s = prepare(mode, runner, base, checkout)
    cmd = harness_command(python, s, runner, cell_timeout)
    r = Result(mode.name, runner, cmd)
    try:
        pid = run_harness(cmd, s, checkout, hard_limit_s, r)
        read_stderr(s, r)
        read_results(s, mode, r)
        leftovers(s, pid, r)
        if s.decoy is not None:
            r.decoy_unchanged = hashlib.sha256(s.decoy.read_bytes()).hexdigest() == s.decoy_sha
            r.decoy_leaked_in = leaked_in(s.out, f"decoy-{s.token}".encode())
        r.outside_written = [str(p) for p in s.outside if os.path.lexists(p)]
    finally:
        if s.listener is not None:
            r.listener_hits = s.listener.close()
        for p in s.outside[1:]:  # /etc and /tmp: only the exact names this case made up
            if os.path.lexists(p):
                os.unlink(p)
        if not keep:
            shutil.rmtree(s.dir, ignore_errors=True)
    return r


# -- judging it ----------------------------------------------------------------------------

MEMORY_LIMIT_MB = 500


def named(mode: Mode, r: Result) -> bool:
    """Whether the verdict names the mode's cause (beside its subject, if it has one)."""
    if mode.limits_count and r.limits_hit:
        return True
    quotes = [q for q in r.cause_quotes if q.startswith(f"{mode.cause} ")]
    if mode.subject is not None:
        return any(re.search(mode.subject, q, re.IGNORECASE) for q in quotes)
    return mode.cause in r.causes


def problems(r: Result, hard_limit_s: float = 180) -> list[str]:
    """What the harness did wrong in this case; empty when it behaved as issue 18 asks."""
    mode = MODES[r.mode]
    bad = []
    if r.hung or r.wall_s >= hard_limit_s:
        bad.append(f"harness did not finish within {hard_limit_s:.0f} s")
    if r.exit_code not in (0, 1):
        bad.append(f"harness exit code {r.exit_code}, expected 0 or 1")
    if r.traceback:
        bad.append(f"traceback on stderr: ...{r.stderr_tail[-1500:]}")
    if not r.results_written:
        bad.append("no results.json with the candidate")
        return bad
    if r.infra or r.cell_infra:
        bad.append(f"infra_error: {r.cell_infra or r.infra}")
    scores = r.profile_scores if mode.every_profile else {"headline": r.score}
    for name, score in scores.items():
        if score is None or score > mode.score_max:
            bad.append(f"score {score} under {name}, expected a number <= {mode.score_max}")
    if mode.cause is not None and not named(mode, r):
        bad.append(f"no failed check's evidence names the cause ({CAUSES[mode.cause]}"
                   + (f" beside {mode.subject}" if mode.subject else "") + ")"
                   + (" and no limit was counted" if mode.limits_count else ""))
    if r.decoy_unchanged is False:
        bad.append("the decoy changed")
    if r.decoy_leaked_in:
        bad.append(f"the decoy's contents are in {r.decoy_leaked_in}")
    if r.listener_hits:
        bad.append(f"the engine reached the host's listener {r.listener_hits} time(s)")
    if r.outside_written:
        bad.append(f"the engine wrote outside its cell: {r.outside_written}")
    for what in ("left_containers", "left_dirs", "left_mounts", "left_processes"):
        if getattr(r, what):
            bad.append(f"{what.replace('_', ' ')}: {getattr(r, what)}")
    if max(r.hwm_mb, r.rss_max_mb) >= MEMORY_LIMIT_MB:
        bad.append(f"harness peak memory {max(r.hwm_mb, r.rss_max_mb)} MB >= {MEMORY_LIMIT_MB}")
    if r.harness_peak_rss_mb is None:
        bad.append("results.json does not record the harness's peak memory (harness.peak_rss_mb)")
    elif r.harness_peak_rss_mb >= MEMORY_LIMIT_MB:
        bad.append(f"results.json says peak memory {r.harness_peak_rss_mb} MB")
    if mode.host_cap is not None and r.tmp_peak_mb * MB > mode.host_cap:
        bad.append(f"the host held {r.tmp_peak_mb} MB of the run at once, cap {mode.host_cap // MB} MB")
    return bad
