"""harness.safefs: a candidate's link is never followed, a special file never opened.

Every test runs twice: with openat2(2) and with the component-by-component walk that
stands in where a kernel has none; a property test asks that both agree on any tree.
The decoys are files and folders the test owns outside the cell root, standing in for
/etc/passwd and /etc: each test checks that their bytes, owner and name list are
unchanged and that their contents appear in nothing the harness returns.

A hard link inside the cell is just a regular file, and the harness reads it. A hard
link to a host file cannot generally be made: link(2) fails with EXDEV across file
systems and across mounts (a Docker cell's folders are bind mounts, so an engine inside
can link only files of its own cell). A local-runner engine running as root on the
host's own file system could make one; the local runner isolates nothing anyway.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.safefs import CellFiles, Unsafe

SECRET = b"root:x:0:0:DECOY-SECRET:/root:/bin/bash\n"
LOG = "work/state/events.jsonl"


@pytest.fixture(params=[True, False], ids=["openat2", "walk"])
def use_openat2(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def cell(tmp_path: Path) -> Path:
    root = tmp_path / "cell"
    (root / "work" / "state" / "outputs").mkdir(parents=True)
    (root / "audit").mkdir()
    return root


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    (d / "passwd").write_bytes(SECRET)
    (d / "events.jsonl").write_bytes(SECRET)
    return d / "passwd"


def files(cell: Path, use_openat2: bool) -> CellFiles:
    return CellFiles(cell, openat2=use_openat2)


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """fn's result, failing the test if it takes longer (it would hang forever)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_openat2_is_the_path_taken_on_this_kernel(cell: Path) -> None:
    """The fallback is tested on purpose (the walk fixture), not by accident."""
    (cell / LOG).write_bytes(b"{}\n")
    fs = files(cell, True)
    assert fs.read(LOG, 100) == b"{}\n" and fs.openat2


def test_regular_file_is_read_and_missing_is_none(cell: Path, use_openat2: bool) -> None:
    fs = files(cell, use_openat2)
    assert fs.read(LOG, 100) is None
    (cell / LOG).write_bytes(b'{"seq": 1}\n')
    assert fs.read(LOG, 100) == b'{"seq": 1}\n'
    assert fs.read("work/nothing/here", 100) is None
    assert fs.hazards == ()


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_symlinked_log_is_named_never_read(cell: Path, decoy: Path, use_openat2: bool,
                                           relative: bool) -> None:
    target = os.path.relpath(decoy, cell / "work" / "state") if relative else str(decoy)
    os.symlink(target, cell / LOG)
    fs = files(cell, use_openat2)
    assert fs.read(LOG, 1 << 20) is None
    assert fs.hazards == (f"{LOG} is a symlink to {target}",)
    with pytest.raises(Unsafe, match="is a symlink to"):
        fs.read_strict(LOG, 1 << 20)
    assert all(SECRET.decode() not in h for h in fs.hazards)


def test_symlinked_directory_component_is_named(cell: Path, decoy: Path,
                                                use_openat2: bool) -> None:
    (cell / "work" / "state" / "outputs").rmdir()
    (cell / "work" / "state").rmdir()
    os.symlink(decoy.parent, cell / "work" / "state")
    fs = files(cell, use_openat2)
    assert fs.read(LOG, 1 << 20) is None
    assert fs.hazards == (f"work/state is a symlink to {decoy.parent}",)
    with pytest.raises(Unsafe, match="work/state is a symlink"):
        fs.entries("work/state")
    with pytest.raises(Unsafe, match="work/state is a symlink"):
        fs.write(LOG, b"damage\n")
    with pytest.raises(Unsafe), fs.dir_path("work/state"):
        pass
    assert (decoy.parent / "events.jsonl").read_bytes() == SECRET


def test_fifo_log_returns_at_once(cell: Path, use_openat2: bool) -> None:
    os.mkfifo(cell / LOG)
    fs = files(cell, use_openat2)
    assert within(5.0, lambda: fs.read(LOG, 100)) is None
    assert fs.hazards == (f"{LOG} is a FIFO",)
    with pytest.raises(Unsafe, match="is a FIFO"):
        within(5.0, lambda: fs.write(LOG, b"x"))
    with pytest.raises(Unsafe, match="is a FIFO"):
        within(5.0, lambda: fs.read_strict(LOG, 100))


def test_socket_log_is_named(cell: Path, use_openat2: bool,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(cell / "work" / "state")  # a socket path is short: bind it relative
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind("events.jsonl")
        fs = files(cell, use_openat2)
        assert within(5.0, lambda: fs.read(LOG, 100)) is None
        assert fs.hazards == (f"{LOG} is a socket",)


@pytest.mark.parametrize("kind,word", [(stat.S_IFCHR, "a character device"),
                                       (stat.S_IFBLK, "a block device")])
def test_device_is_named_and_never_opened(cell: Path, use_openat2: bool, kind: int,
                                          word: str) -> None:
    try:  # /dev/null's and loop0's numbers; only a privileged user may make them
        os.mknod(cell / LOG, kind | 0o600, os.makedev(1, 3) if kind == stat.S_IFCHR
                 else os.makedev(7, 0))
    except PermissionError:
        pytest.skip("making a device node needs root")
    fs = files(cell, use_openat2)
    assert within(5.0, lambda: fs.read(LOG, 100)) is None
    assert fs.hazards == (f"{LOG} is {word}",)


def test_hard_link_inside_the_cell_is_a_regular_file(cell: Path, use_openat2: bool) -> None:
    (cell / "work" / "state" / "attempt.out").write_bytes(b"output\n")
    os.link(cell / "work" / "state" / "attempt.out", cell / "work/state/outputs/one")
    fs = files(cell, use_openat2)
    assert fs.read("work/state/outputs/one", 100) == b"output\n" and fs.hazards == ()


def test_a_file_over_its_cap_is_cut_and_named(cell: Path, use_openat2: bool) -> None:
    (cell / LOG).write_bytes(b"x" * 110)
    fs = files(cell, use_openat2)
    assert fs.read(LOG, 100) == b"x" * 100
    assert fs.hazards == (f"{LOG} is 110 bytes, over the 100 bytes cap",)
    with pytest.raises(Unsafe, match="over the 100 bytes cap"):
        fs.read_strict(LOG, 100)
    assert fs.read(LOG, 110) == b"x" * 110  # exactly at the cap is fine


def test_mebibyte_sizes_are_named_as_such(cell: Path, use_openat2: bool) -> None:
    with open(cell / LOG, "wb") as f:
        f.truncate(3 * (1 << 20) + (1 << 19))
    fs = files(cell, use_openat2)
    assert len(fs.read(LOG, 1 << 20) or b"") == 1 << 20
    assert fs.hazards == (f"{LOG} is 3.5 MiB, over the 1 MiB cap",)


def test_equal_contents_are_held_once(cell: Path, use_openat2: bool) -> None:
    (cell / LOG).write_bytes(b"{}\n" * 1000)
    fs = files(cell, use_openat2)
    first, second = fs.read(LOG, 1 << 20, intern=True), fs.read(LOG, 1 << 20, intern=True)
    assert first == second and first is second
    assert fs.read(LOG, 1 << 20) is not first  # only what an observation keeps is interned


def test_write_refuses_a_planted_link_and_creates_or_rewrites_in_place(
        cell: Path, decoy: Path, use_openat2: bool) -> None:
    fs = files(cell, use_openat2)
    fs.write(LOG, b"one\n")  # created
    inode = (cell / LOG).stat().st_ino
    fs.write(LOG, b"two\n")  # rewritten in place: the engine's owner and inode stay
    assert (cell / LOG).read_bytes() == b"two\n" and (cell / LOG).stat().st_ino == inode
    (cell / LOG).unlink()
    os.symlink(decoy, cell / LOG)
    with pytest.raises(Unsafe, match=f"{LOG} is a symlink to {decoy}"):
        fs.write(LOG, b"torn")
    os.unlink(cell / LOG)
    os.symlink("/nonexistent/dangling", cell / LOG)  # O_EXCL does not follow it either
    with pytest.raises(Unsafe, match="is a symlink to /nonexistent/dangling"):
        fs.write(LOG, b"torn")
    assert decoy.read_bytes() == SECRET and not os.path.exists("/nonexistent/dangling")


def test_mkdir_and_lstat_never_follow(cell: Path, decoy: Path, use_openat2: bool) -> None:
    fs = files(cell, use_openat2)
    fs.mkdir("work/empty")
    fs.mkdir("work/empty")  # an existing directory is fine
    os.symlink(decoy.parent, cell / "work" / "linked")
    with pytest.raises(Unsafe, match="work/linked is a symlink"):
        fs.mkdir("work/linked")
    st = fs.lstat("work/linked")
    assert st is not None and stat.S_ISLNK(st.st_mode)
    assert fs.lstat("work/missing") is None and fs.lstat("work/missing/deeper") is None


def test_entries_report_links_as_themselves(cell: Path, decoy: Path, use_openat2: bool) -> None:
    out = cell / "work" / "state" / "outputs"
    (out / "one").write_bytes(b"1")
    os.symlink(decoy, out / "two")
    fs = files(cell, use_openat2)
    found = dict(fs.entries("work/state/outputs") or [])
    assert stat.S_ISREG(found["one"].st_mode) and stat.S_ISLNK(found["two"].st_mode)
    assert fs.describe("work/state/outputs/two") == (
        f"work/state/outputs/two is a symlink to {decoy}")
    assert fs.describe("work/state/outputs/one") is None


def _plant_tree(cell: Path, decoy: Path) -> None:
    state = cell / "work" / "state"
    (state / "events.jsonl").write_bytes(b'{"seq": 1}\n')
    (state / "work").mkdir()
    (state / "work" / "a.1.out").write_bytes(b"out")
    os.symlink(decoy, state / "work" / "link")
    os.mkfifo(state / "outputs" / "fifo")


def test_snapshot_leaves_links_and_fifos_out_and_names_them(
        cell: Path, decoy: Path, tmp_path: Path, use_openat2: bool) -> None:
    _plant_tree(cell, decoy)
    fs = files(cell, use_openat2)
    snap = tmp_path / "snap"
    with pytest.raises(Unsafe, match="work/state/outputs/fifo is a FIFO"):
        within(10.0, lambda: fs.copy_out("work/state", snap))
    assert fs.hazards == ("work/state/outputs/fifo is a FIFO",
                          f"work/state/work/link is a symlink to {decoy}")
    copied = snap / "work" / "state"
    assert (copied / "events.jsonl").read_bytes() == b'{"seq": 1}\n'
    assert (copied / "work" / "a.1.out").read_bytes() == b"out"
    assert not os.path.lexists(copied / "work" / "link")
    assert not os.path.lexists(copied / "outputs" / "fifo")


def test_restore_replaces_a_planted_link_without_following_it(
        cell: Path, decoy: Path, tmp_path: Path, use_openat2: bool) -> None:
    (cell / LOG).write_bytes(b'{"seq": 1}\n')
    fs = files(cell, use_openat2)
    snap = tmp_path / "snap"
    fs.copy_out("work/state", snap)
    fs.copy_out("audit/audit.jsonl", snap)  # missing: nothing to copy
    # The candidate swaps STATE_DIR for a link to a host folder before the restore.
    fs.remove("work/state")
    os.symlink(decoy.parent, cell / "work" / "state")
    fs.copy_in(snap, "work/state")
    assert not (cell / "work" / "state").is_symlink()
    assert (cell / LOG).read_bytes() == b'{"seq": 1}\n'
    assert sorted(os.listdir(decoy.parent)) == ["events.jsonl", "passwd"]
    assert decoy.read_bytes() == SECRET
    fs.copy_in(snap, "audit/audit.jsonl")  # absent in the snapshot: absent after
    assert not os.path.lexists(cell / "audit" / "audit.jsonl")


def test_remove_takes_a_link_away_not_its_target(cell: Path, decoy: Path,
                                                 use_openat2: bool) -> None:
    fs = files(cell, use_openat2)
    os.symlink(decoy.parent, cell / "work" / "other")
    fs.remove("work/other")
    assert not os.path.lexists(cell / "work" / "other") and decoy.read_bytes() == SECRET


def test_chown_walk_changes_links_never_their_targets(cell: Path, decoy: Path,
                                                      use_openat2: bool) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    _plant_tree(cell, decoy)
    os.symlink(decoy.parent, cell / "work" / "linked-state")
    before = [(p.stat().st_uid, p.stat().st_gid) for p in (decoy, decoy.parent)]
    fs = files(cell, use_openat2)
    fs.chown_tree("work/state", 4321, 4321)
    fs.chown_tree("work/linked-state", 4321, 4321)
    assert [(p.stat().st_uid, p.stat().st_gid) for p in (decoy, decoy.parent)] == before
    assert (cell / LOG).stat().st_uid == 4321
    assert (cell / "work" / "state" / "work" / "link").lstat().st_uid == 4321
    assert (cell / "work" / "linked-state").lstat().st_uid == 4321


def test_paths_must_be_plain_and_relative(cell: Path) -> None:
    fs = files(cell, True)
    for bad in ("/etc/passwd", "work/../../etc", "work//state", "./work", ""):
        with pytest.raises(ValueError):
            fs.read(bad, 10)


# -- property: both resolvers agree on any tree, and neither ever shows a decoy byte --

NAMES = ("a", "b", "events.jsonl")
KINDS = ("file", "dir", "abs-link", "rel-link", "dir-link", "fifo")


def _build(root: Path, decoy: Path, layout: dict[tuple[str, ...], str]) -> None:
    for path, kind in sorted(layout.items(), key=lambda kv: len(kv[0])):
        where = root.joinpath(*path)
        if not where.parent.is_dir() or os.path.lexists(where):
            continue  # a parent that is not a real directory holds nothing
        if kind == "file":
            where.write_bytes("/".join(path).encode())
        elif kind == "dir":
            where.mkdir()
        elif kind == "abs-link":
            os.symlink(decoy, where)
        elif kind == "rel-link":
            os.symlink("a", where)
        elif kind == "dir-link":
            os.symlink(decoy.parent, where)
        else:
            os.mkfifo(where)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.dictionaries(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)
                              .map(tuple), st.sampled_from(KINDS), max_size=8),
       query=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join))
def test_resolvers_agree_and_never_follow(tmp_path_factory: pytest.TempPathFactory,
                                          layout: dict[tuple[str, ...], str],
                                          query: str) -> None:
    base = tmp_path_factory.mktemp("prop")
    decoy = base / "etc" / "passwd"
    decoy.parent.mkdir()
    decoy.write_bytes(SECRET)
    root = base / "cell"
    root.mkdir()
    _build(root, decoy, layout)
    answers = []
    for flag in (True, False):
        fs = CellFiles(root, openat2=flag)
        data = within(5.0, lambda fs=fs: fs.read(query, 1 << 16))  # type: ignore[misc]
        answers.append((data, fs.hazards))
    assert answers[0] == answers[1]
    data, hazards = answers[0]
    real = root.joinpath(*query.split("/"))
    plain = all(not p.is_symlink() for p in [real, *real.parents] if root in p.parents)
    if data is not None:
        assert plain and real.is_file() and data == query.encode()
    elif plain and real.is_file():
        pytest.fail(f"{query}, a regular file under real folders, was refused: {hazards}")
    if not plain:
        assert data is None and any("is a symlink to" in h for h in hazards)
    assert SECRET not in (data or b"") and all(SECRET.decode() not in h for h in hazards)
    assert decoy.read_bytes() == SECRET


def test_hazards_stay_few_however_often_a_file_changes(cell: Path, decoy: Path) -> None:
    fs = files(cell, True)
    for n in range(3):  # a log growing past its cap: one sentence, the latest size
        (cell / LOG).write_bytes(b"x" * (101 + n))
        fs.read(LOG, 100)
    assert fs.hazards == (f"{LOG} is 103 bytes, over the 100 bytes cap",)
    for n in range(200):  # a new link target every tick
        (cell / LOG).unlink()
        os.symlink(f"{decoy}.{n}", cell / LOG)
        fs.read(LOG, 100)
    assert len(fs.hazards) == 51 and fs.hazards[-1].startswith("more unsafe files")


def test_make_tree_lays_down_folders_and_files_and_never_writes_through_a_link(
        cell: Path, decoy: Path, use_openat2: bool) -> None:
    files = CellFiles(cell, openat2=use_openat2)
    files.make_tree("state", ["empty", "a/b"], [("events.jsonl", b"{}\n"), ("a/b/c/out", b"1")])
    assert (cell / "state" / "empty").is_dir()
    assert (cell / "state" / "events.jsonl").read_bytes() == b"{}\n"
    assert (cell / "state" / "a" / "b" / "c" / "out").read_bytes() == b"1"
    os.symlink(decoy.parent, cell / "other")
    with pytest.raises(Unsafe):
        files.make_tree("other", ["outputs"], [("events.jsonl", b"x")])
    assert sorted(p.name for p in decoy.parent.iterdir()) == ["events.jsonl", "passwd"]
    assert (decoy.parent / "events.jsonl").read_bytes() == SECRET
