"""Manifests that extend another candidate, [mutant] and [[origin.findings]] tables, the
merged file tree both runners and the image see, and the inotify reader the outputs
watcher relies on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import inotify, tree
from harness.errors import ManifestError
from harness.manifest import load_candidate

BASE = 'name = "{name}"\nlanguage = "python"\nentrypoint = ["python3", "main.py"]\n'


def folder(tmp: Path, name: str, extra: str = "", files: dict[str, str] | None = None) -> Path:
    path = tmp / name
    path.mkdir(parents=True)
    (path / "candidate.toml").write_text(BASE.format(name=name) + extra)
    for rel, text in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def test_extends_lays_own_files_over_the_base_chain(tmp_path: Path) -> None:
    folder(tmp_path, "base", files={"main.py": "base", "pkg/a.py": "a", "pkg/b.py": "b"})
    folder(tmp_path, "mid", 'extends = "../base"\n', files={"pkg/b.py": "mid-b"})
    leaf = folder(tmp_path, "leaf", 'extends = "../mid"\n', files={"pkg/a.py": "leaf-a"})
    c = load_candidate(leaf)
    assert [p.name for p in c.extends] == ["base", "mid"]
    files = {rel: p.read_text() for rel, p in tree.candidate_files(c)}
    assert files == {"main.py": "base", "pkg/a.py": "leaf-a", "pkg/b.py": "mid-b"}
    out = tree.materialize(c, tmp_path / "merged")
    assert (out / "pkg" / "a.py").read_text() == "leaf-a"
    assert not (out / "candidate.toml").exists()
    assert (leaf / "pkg" / "a.py").read_text() == "leaf-a"  # nothing of the user's changed


@pytest.mark.parametrize(("extra", "words"), [
    ('extends = "../nowhere"\n', ["'extends'", "not a candidate folder"]),
    ("extends = 3\n", ["'extends' must be a path"]),
    ('[mutant]\ndefect = "x"\nscenario = "clean-run"\nchecks = []\n', ["[mutant]", "checks"]),
    ('[mutant]\nscenario = "clean-run"\nchecks = ["a"]\n', ["[mutant]", "defect"]),
    ('[origin]\nfindings = [{defect = "x"}]\n', ["origin.findings[0]", "review"]),
    ('[origin]\nfindings = "x"\n', ["origin.findings", "array of tables"]),
])
def test_bad_new_manifest_keys_name_the_file_and_key(tmp_path: Path, extra: str,
                                                     words: list[str]) -> None:
    path = folder(tmp_path, "c", extra)
    with pytest.raises(ManifestError) as exc:
        load_candidate(path)
    for word in [str(path / "candidate.toml"), *words]:
        assert word in str(exc.value)


def test_an_extends_cycle_is_an_error_not_a_hang(tmp_path: Path) -> None:
    folder(tmp_path, "a", 'extends = "../b"\n')
    b = folder(tmp_path, "b", 'extends = "../a"\n')
    with pytest.raises(ManifestError, match="more than 4 folders deep"):
        load_candidate(b)


def test_a_manifest_is_read_beneath_its_folder_never_through_a_link(tmp_path: Path) -> None:
    """A pull request controls candidate.toml in CI: a link to a host file, a FIFO (which
    would block the harness) or a huge file is refused with the reason, never read."""
    secret = tmp_path / "secret.toml"
    secret.write_text(BASE.format(name="stolen"))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "candidate.toml").symlink_to(secret)
    with pytest.raises(ManifestError, match="candidate.toml is a symlink to .*secret.toml"):
        load_candidate(linked)
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "candidate.toml")
    with pytest.raises(ManifestError, match="candidate.toml is a FIFO"):
        load_candidate(fifo)
    huge = folder(tmp_path, "huge", "# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ManifestError, match="over the 1 MiB cap"):
        load_candidate(huge)
    with pytest.raises(ManifestError, match="no candidate.toml in this folder"):
        load_candidate(tmp_path)


def test_findings_and_mutant_tables_load(tmp_path: Path) -> None:
    c = load_candidate(folder(tmp_path, "c", (
        '[mutant]\ndefect = "d"\nscenario = "clean-run"\nchecks = ["dag.exit_zero"]\n'
        '[origin]\nmodel = "m"\n[[origin.findings]]\ndefect = "append bug"\n'
        'review = "the log is truncated"\nchecks = ["log.append_only"]\n')))
    assert c.mutant is not None and c.mutant.checks == ("dag.exit_zero",)
    assert c.origin.model == "m"
    assert [(f.defect, f.checks) for f in c.origin.findings] == [("append bug",
                                                                 ("log.append_only",))]


def test_inotify_tells_a_write_in_place_from_a_link(tmp_path: Path) -> None:
    ino = inotify.Inotify()
    try:
        assert ino.watch(str(tmp_path), inotify.IN_CREATE | inotify.IN_MODIFY |
                         inotify.IN_MOVED_TO)
        assert not ino.watch(str(tmp_path / "missing"), inotify.IN_CREATE)
        src = tmp_path.parent / f"{tmp_path.name}.src"
        src.write_bytes(b"whole")
        os.link(src, tmp_path / "linked")
        with open(tmp_path / "written", "wb") as f:
            f.write(b"part")
            f.flush()
            f.write(b"rest")
        (tmp_path.parent / f"{tmp_path.name}.other").write_bytes(b"x")
        os.rename(tmp_path.parent / f"{tmp_path.name}.other", tmp_path / "renamed")
        seen = {(e.name, e.mask & (inotify.IN_CREATE | inotify.IN_MODIFY | inotify.IN_MOVED_TO))
                for e in ino.read()}
    finally:
        ino.close()
    assert ("linked", inotify.IN_CREATE) in seen and ("linked", inotify.IN_MODIFY) not in seen
    assert ("written", inotify.IN_MODIFY) in seen
    assert ("renamed", inotify.IN_MOVED_TO) in seen and ("renamed", inotify.IN_MODIFY) not in seen
    assert ino.fd is None
