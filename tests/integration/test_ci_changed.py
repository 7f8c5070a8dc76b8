"""`examples/ci/gate.sh changed` names the candidate folders a pull request changed.

The pull request's base branch may move on after the branch left it: what it changed
there is no part of the pull request, and scoring it would judge the wrong change. So
the folders come from the diff against the merge base (BASE...HEAD), as a hosted CI
passes the base branch's tip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GATE = Path(__file__).resolve().parents[2] / "examples" / "ci" / "gate.sh"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def touch(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_changed_is_what_the_branch_changed_not_what_its_base_did_since(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.org")
    git(repo, "config", "user.name", "ci")
    for name in ("ours", "theirs", "mutants/deep"):
        touch(repo, f"candidates/{name}/candidate.toml", f'name = "{name}"\n')
    touch(repo, "candidates/mutants/deep/mutant.py", "x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "pr")
    touch(repo, "candidates/ours/main.py", "print(1)\n")
    touch(repo, "candidates/mutants/deep/mutant.py", "x = 2\n")
    touch(repo, "README", "not a candidate\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the pull request")
    git(repo, "checkout", "-q", "main")
    touch(repo, "candidates/theirs/main.py", "print(2)\n")  # the base moves on
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "meanwhile on main")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "pr")
    done = subprocess.run(["bash", str(GATE), "changed", base], cwd=repo, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "candidates=candidates/mutants/deep candidates/ours"
