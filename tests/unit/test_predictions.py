"""`harness import`: every bad line is one error naming it (exit 2, nothing written), a
good file becomes candidate folders the scorer loads as written, and `harness score`
takes the folder of folders. The example study in tests/data is what its script makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from harness import cells, cli, predictions
from harness.errors import ManifestError, UsageError
from harness.manifest import load_candidate, resolve_candidates
from harness.model import CAPABILITIES
from harness.tree import candidate_files
from tests.data import make_predictions

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {"model": "m", "sample": 1, "files": {"main.py": "print(1)\n"}}


def line(**changes: Any) -> str:
    """GOOD with keys changed (a value of None drops the key), as one JSON line."""
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not None})


def run(tmp: Path, text: str | bytes, into: Path | None = None) -> tuple[Result, Path]:
    source = tmp / "p.jsonl"
    source.write_bytes(text if isinstance(text, bytes) else text.encode())
    into = into or tmp / "out"
    return CliRunner().invoke(cli.main, ["import", str(source), "--into", str(into)]), into


def assert_refused(result: Result, tmp: Path, into: Path, *words: str) -> None:
    """Exit 2, one line starting "error:" with the words, no traceback, nothing written."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not into.exists() or not any(into.iterdir())
    assert [p.name for p in tmp.iterdir() if p != into] == ["p.jsonl"]  # no temp folder left


BAD_LINES = [
    (line(files={"../x.py": "a", "main.py": "b"}), ["'../x.py'", "escapes"]),
    (line(files={"/etc/x.py": "a", "main.py": "b"}), ["'/etc/x.py'", "absolute"]),
    (line(files={"a/../../b.py": "a", "main.py": "b"}), ["'a/../../b.py'", "escapes"]),
    (line(files={"a\0b.py": "a", "main.py": "b"}), ["NUL"]),
    (line(files={"": "a", "main.py": "b"}), ["empty path"]),
    (line(files={"candidate.toml": "x", "main.py": "b"}), ["'candidate.toml'", "writes"]),
    (line(files={"sub/candidate.toml": "x", "main.py": "b"}), ["ignored by the scorer"]),
    (line(files={"__pycache__/m.pyc": "x", "main.py": "b"}), ["ignored by the scorer"]),
    (line(files={"a/./b.py": "x", "main.py": "b"}), ["'.' part"]),
    (line(files={"a\\b.py": "x", "main.py": "b"}), ["backslash"]),
    (line(files={"lib": "x", "lib/a.py": "y"}, entrypoint=["python3", "lib/a.py"]),
     ["'lib/a.py' lies below 'lib'"]),
    (line(model=None), ["missing key(s) 'model'"]),
    (line(files=None, sample=None), ["missing key(s) 'sample', 'files'"]),
    (line(model=3), ["'model' must be a non-empty string", "a number"]),
    (line(model=""), ["'model' must be a non-empty string", "(empty)"]),
    (line(model="a\nb"), ["'model' has a control character"]),
    (line(model="???"), ["no letter or digit"]),
    (line(sample=True), ["'sample' must be a non-empty string or an integer", "a boolean"]),
    (line(sample=1.5), ["'sample' must be", "a number"]),
    (line(sample=[1]), ["'sample' must be", "a list"]),
    (line(files=["main.py"]), ["'files' must be a non-empty object"]),
    (line(files={}), ["'files' must be a non-empty object", "(empty)"]),
    (line(files={"main.py": 3}), ["file 'main.py'", "must be a string"]),
    (line(entrypoint="python3 main.py"), ["'entrypoint' must be a non-empty list"]),
    (line(entrypoint=[]), ["'entrypoint' must be a non-empty list"]),
    (line(entrypoint=["python3", "mian.py"]), ["'mian.py', which is not one of the files"]),
    (line(files={"main.py": ""}), ["'main.py', which is empty"]),
    (line(files={"a.py": "1", "b.py": "2"}), ["no 'entrypoint'", "2 .py files", "give one"]),
    (line(files={"run.sh": "echo"}, entrypoint=["sh", "run.sh"]), ["no 'language'"]),
    (line(language=3), ["'language' must be a non-empty string"]),
    (line(claims="retries"), ["'claims' must be a list"]),
    (line(claims=["retries", "flying"]), ["unknown capabilities", "'flying'", "known:"]),
    (line(prompt_version=["v1"]), ["'prompt_version' must be a string or an integer"]),
    (line(modle="x"), ["unknown key(s) 'modle'", "known: model"]),
    ('{"model": "m", "sample": 1, "files": {"main.py": "\\ud800"}}', ["lone surrogate"]),
    ('{"model": "a", "model": "b", "sample": 1, "files": {"main.py": "x"}}',
     ["key 'model' is given twice"]),
    ('{"model": "m", "sample": 1,', ["not valid JSON"]),
    ("[1, 2]", ["must be a JSON object, not a list"]),
    ("[" * 100_000, ["not valid JSON"]),  # nested past the recursion limit
    (line(files={"main.py": "x" * (predictions.MAX_FILE_BYTES + 1)}), ["over the cap"]),
]


@pytest.mark.parametrize(("text", "words"), BAD_LINES)
def test_a_bad_line_is_refused_naming_it_and_nothing_is_written(tmp_path: Path, text: str,
                                                               words: list[str]) -> None:
    # the bad line is line 3, after a good line and a blank one
    result, into = run(tmp_path, f"{line(sample='ok')}\n\n{text}\n")
    assert_refused(result, tmp_path, into, "p.jsonl line 3: ", *words)


def test_the_same_model_and_sample_twice_names_both_lines(tmp_path: Path) -> None:
    result, into = run(tmp_path, f"{line()}\n{line(sample=2)}\n\n{line()}\n")
    assert_refused(result, tmp_path, into, "line 4:", "model 'm' sample '1' is also on line 1")


def test_two_lines_that_slug_to_one_folder_name_both(tmp_path: Path) -> None:
    result, into = run(tmp_path, f"{line(model='GPT 4')}\n{line(model='gpt-4')}\n")
    assert_refused(result, tmp_path, into, "line 2:", "'gpt-4--1'", "as line 1",
                   "model 'GPT 4'", "rename one")


def test_every_bad_line_is_counted_and_the_first_is_told(tmp_path: Path) -> None:
    text = "\n".join([line(model=3), line(), "nope", line(sample=None)])
    result, into = run(tmp_path, text)
    assert_refused(result, tmp_path, into, "line 1: 'model'", "and 2 more bad line(s): 3, 4")


@pytest.mark.parametrize(("text", "words"), [
    ("", ["no predictions"]), ("\n  \n\n", ["no predictions"]),
    (b"\xff\xfe{}", ["not UTF-8"]),
])
def test_an_empty_or_unreadable_file_is_refused(tmp_path: Path, text: str | bytes,
                                                words: list[str]) -> None:
    result, into = run(tmp_path, text)
    assert_refused(result, tmp_path, into, *words)


def test_a_missing_predictions_file_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["import", str(tmp_path / "none.jsonl"), "--into",
                                           str(tmp_path / "out")])
    assert result.exit_code == 2 and "cannot be read" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_not_empty_is_refused_and_kept(tmp_path: Path) -> None:
    into = tmp_path / "out"
    (into / "mine").mkdir(parents=True)
    (into / "mine" / "notes.txt").write_text("keep me")
    result, _ = run(tmp_path, line(), into)
    assert result.exit_code == 2
    assert "is not empty" in result.stderr and "'mine'" in result.stderr
    assert [p.name for p in into.iterdir()] == ["mine"]
    assert (into / "mine" / "notes.txt").read_text() == "keep me"


def test_a_file_or_a_link_as_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result, _ = run(tmp_path, line(), tmp_path / "afile")
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    result, _ = run(tmp_path, line(), tmp_path / "link")
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert (tmp_path / "link").is_symlink() and not any((tmp_path / "empty").iterdir())


def test_a_failure_while_writing_leaves_nothing(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    found = predictions.parse(f"{line()}\n{line(sample=2)}\n", "p.jsonl")

    def broken(folder: Path, p: predictions.Prediction) -> None:
        raise ManifestError(f"{folder}: made up")

    monkeypatch.setattr(predictions, "_loads_back", broken)
    with pytest.raises(ManifestError):
        predictions.write(found, tmp_path / "out", "p.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_each_line_becomes_a_folder_the_scorer_loads_as_written(tmp_path: Path) -> None:
    odd = 'Qwen "3" \\ coder – ü'
    files = {"main.py": "# a\r\nprint('\u2028')\n", "pkg/__init__.py": "", "pkg/run.py": "x=1\n"}
    text = "\n".join([
        line(model=odd, sample="s 1", files=files, entrypoint=["python3", "./main.py"],
             claims=["retries", "durable_log", "retries"], prompt_version=7),
        "",
        line(sample=2, files={"engine.py": "print(2)\n", "README.md": "hi"}),
    ])
    result, into = run(tmp_path, text + "\n")
    assert result.exit_code == 0, result.output
    assert "wrote 2 candidate folder(s) for 2 model(s)" in result.stdout
    assert f"harness score {into}" in result.stdout
    assert sorted(p.name for p in into.iterdir()) == ["m--2", "qwen-3-coder--s-1"]
    first = load_candidate(into / "qwen-3-coder--s-1")
    assert first.name == "qwen-3-coder--s-1"
    assert first.origin.as_json() == {"model": odd, "sample": "s 1", "prompt_version": "7",
                                      "date": "", "notes": "", "source": "p.jsonl line 1"}
    assert first.entrypoint == ("python3", "./main.py") and first.language == "python"
    assert first.claims == {"retries", "durable_log"}
    assert "p.jsonl line 1" in first.description and odd in first.description
    assert {rel: p.read_bytes().decode() for rel, p in candidate_files(first)} == files
    second = load_candidate(into / "m--2")
    assert second.entrypoint == ("python3", "engine.py")  # the one .py file
    assert second.origin.sample == "2" and second.origin.get("source") == "p.jsonl line 3"
    assert second.claims == frozenset()


def test_an_empty_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    result, into = run(tmp_path, line())
    assert result.exit_code == 0, result.output
    assert [p.name for p in into.iterdir()] == ["m--1"]


def test_score_takes_a_folder_of_candidate_folders(tmp_path: Path) -> None:
    found = predictions.parse(f"{line(sample=2)}\n{line()}\n", "p.jsonl")
    into = predictions.write(found, tmp_path / "study", "p.jsonl")
    (into / "notes").mkdir()  # a folder without a manifest is not a candidate
    names = [c.name for c in resolve_candidates([str(into)], ROOT)]
    assert names == ["m--1", "m--2"]
    notes: list[str] = []
    mixed = resolve_candidates(["reference", str(into), str(into / "m--2")], ROOT, notes.append)
    assert [c.name for c in mixed] == ["reference", "m--1", "m--2"]
    assert len(notes) == 1 and "m--2" in notes[0]  # named twice: scored once
    with pytest.raises(ManifestError, match="no candidate.toml in this folder, nor in any"):
        resolve_candidates([str(into / "notes")], ROOT)


@given(st.text())
def test_a_slug_is_one_safe_path_part_without_the_separator(text: str) -> None:
    s = predictions.slug(text)
    assert all(ch in "abcdefghijklmnopqrstuvwxyz0123456789._-" for ch in s)
    assert "--" not in s and not s.startswith((".", "-")) and len(s) <= predictions.SLUG_CHARS


def test_the_example_study_is_what_its_script_makes_and_imports(tmp_path: Path) -> None:
    shipped = make_predictions.TARGET.read_text(encoding="utf-8")
    assert shipped == make_predictions.render(), "run python tests/data/make_predictions.py"
    found = predictions.read(make_predictions.TARGET)
    into = predictions.write(found, tmp_path / "study", make_predictions.TARGET.name)
    loaded = resolve_candidates([str(into)], ROOT)
    assert len(loaded) == 9
    by_model: dict[str, list[str]] = {}
    for c in loaded:
        by_model.setdefault(c.origin.model, []).append(c.origin.sample)
        assert c.claims <= set(CAPABILITIES) and c.origin.prompt_version == "v1"
    assert by_model == {m: ["1", "2", "3"] for m in ("flawed-model", "flawed-twin", "sound-model")}
    assert len({cells.content_digest(c) for c in loaded}) == 9  # every sample its own cell
    with pytest.raises(UsageError, match="is not empty"):
        predictions.write(found, into, "again")
