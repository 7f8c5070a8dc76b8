"""The results store: cells round-trip whole, resume keeps them, and a file that is not a
store (or of another schema version) is refused with exit 2 and left as it was."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import api, cells, cli, store
from harness.manifest import resolve_candidates
from harness.model import CellResult, CheckResult, Evidence, Outcome, Severity


def a_cell(scenario: str = "clean-run", seed: int = 1) -> CellResult:
    c = resolve_candidates(["reference"], api.ROOT)[0]
    s = next(x for x in api.all_scenarios() if x.name == scenario)
    [spec] = cells.plan([c], [s], seed, "local", api.reproduce_command)
    ev = Evidence("whole lines", "a torn line \u00e9", "work/state/events.jsonl", "{\"ty")
    results = (CheckResult("log.seq_contiguous", "durable_log", Severity.FATAL, Outcome.FAIL,
                           (ev,), "detail"),
               CheckResult("dag.order", "dependency_order", Severity.MAJOR, Outcome.NOT_EXERCISED))
    return CellResult(c.name, s.name, seed, "local", results, spec.reproduce, 1.25,
                      extra={"timeline": {"runs": [], "invocations": []}, "steps_succeeded": 3},
                      key=spec.key)


def test_a_cell_round_trips_whole(tmp_path: Path) -> None:
    cell = a_cell()
    with store.Store.open(tmp_path, resume=False) as st:
        st.begin_run(["harness", "score"], resumed=False)
        st.put(cell)
        assert st.done() == {cell.key}
        assert st.cells([cell.key]) == {cell.key: cell}
        assert st.run_of(cell.key) == 1


def test_resume_keeps_cells_and_a_fresh_run_clears_them(tmp_path: Path) -> None:
    cell = a_cell()
    with store.Store.open(tmp_path, resume=False) as st:
        st.begin_run([], resumed=False)
        st.put(cell)
    with store.Store.open(tmp_path, resume=True) as st:
        assert st.done() == {cell.key}
        assert st.begin_run([], resumed=True) == 2
    with store.Store.open(tmp_path, resume=False) as st:
        assert st.done() == set()
        assert st.runs() == []


def test_keys_follow_content_not_names(tmp_path: Path) -> None:
    ref = resolve_candidates(["reference"], api.ROOT)[0]
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in ref.path.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            dest = copy / path.relative_to(ref.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
            dest.chmod(path.stat().st_mode)
    same = resolve_candidates([str(copy)], api.ROOT)[0]
    assert cells.content_digest(same) == cells.content_digest(ref)  # another folder, same engine
    (copy / "main.py").write_text((copy / "main.py").read_text() + "\n# changed\n")
    assert cells.content_digest(resolve_candidates([str(copy)], api.ROOT)[0]) != \
        cells.content_digest(ref)


def score(out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["score", "reference", "--runner", "local",
                                           "--scenario", "invalid-workflow", "--out", str(out),
                                           *extra])
    return result.exit_code, result.output


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("resume", [False, True])
def test_a_file_that_is_not_a_store_is_refused_and_kept(tmp_path: Path, resume: bool) -> None:
    target = tmp_path / store.FILE
    target.write_bytes(b"my own notes, not a database\n" * 100)
    before = digest(target)
    code, output = score(tmp_path, *(["--resume"] if resume else []))
    assert code == 2
    assert "not a harness results store" in output
    assert digest(target) == before
    assert not (tmp_path / "results.json").exists()


def test_another_sqlite_file_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / store.FILE
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    before = digest(target)
    code, output = score(tmp_path)
    assert code == 2
    assert "an SQLite file of something else" in output
    assert digest(target) == before


def test_a_store_of_another_schema_version_is_refused_and_kept(tmp_path: Path) -> None:
    with store.Store.open(tmp_path, resume=False):
        pass
    conn = sqlite3.connect(tmp_path / store.FILE)
    conn.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = digest(tmp_path / store.FILE)
    for extra in ([], ["--resume"]):
        code, output = score(tmp_path, *extra)
        assert code == 2
        assert f"schema version {store.SCHEMA_VERSION + 1}" in " ".join(output.split())
        assert digest(tmp_path / store.FILE) == before


def test_a_fifo_in_a_candidate_folder_is_refused_not_read(tmp_path: Path) -> None:
    """Digesting a candidate reads its files: a FIFO there must not hang the harness."""
    import os

    from harness.errors import ManifestError

    ref = resolve_candidates(["reference"], api.ROOT)[0]
    folder = tmp_path / "c"
    folder.mkdir()
    for name in ("candidate.toml", "main.py"):
        (folder / name).write_bytes((ref.path / name).read_bytes())
    os.mkfifo(folder / "pipe")
    with pytest.raises(ManifestError, match="not a regular file or a link"):
        cells.content_digest(resolve_candidates([str(folder)], api.ROOT)[0])
