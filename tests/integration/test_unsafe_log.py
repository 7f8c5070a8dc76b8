"""A candidate that plants its log as a link to a host file, or as a FIFO (local runner).

Before harness.safefs, torn-tail cut the last line of the file the link pointed at and
corrupt-middle added a garbage line to it, its bytes showed up in every report, and a
FIFO hung the harness in open() forever. Now the harness finishes, files.regular fails
naming the link or the FIFO, the decoy (a file this test owns, standing in for
/etc/passwd) keeps its bytes, and they appear in none of the files harness writes.
The full hostile suite, under Docker too, is tests/docker/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "unsafe_log"
SECRET = b"root:x:0:0:DECOY-SECRET-5e1f:/root:/bin/bash\ndaemon:x:1:1::/:/bin/false\n"
REPORTS = ("results.json", "index.html", "junit.xml", "results.csv")


@pytest.mark.parametrize("mode", ["symlink", "fifo"])
def test_an_unsafe_log_is_named_never_followed(tmp_path: Path, root: Path, mode: str) -> None:
    decoy = tmp_path / "etc" / "passwd"
    decoy.parent.mkdir()
    decoy.write_bytes(SECRET)
    cand = tmp_path / "unsafe-log"
    shutil.copytree(FIXTURE, cand)
    (cand / "plant.txt").write_text(f"symlink {decoy}\n" if mode == "symlink" else "fifo\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "harness", "score", str(cand), "--runner",
                        "local", "--scenario", "[ct]or*", "--out", str(out)], cwd=root,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]

    assert decoy.read_bytes() == SECRET
    doc = json.loads((out / "results.json").read_text())
    checks = doc["candidates"]["unsafe-log"]["checks"]
    regular = {c["scenario"]: c for c in checks if c["check"] == "files.regular"}
    assert sorted(regular) == ["corrupt-middle", "torn-tail"]
    want = (f"work/state/events.jsonl is a symlink to {decoy}" if mode == "symlink"
            else "work/state/events.jsonl is a FIFO")
    for scenario, result in regular.items():
        seen = [e["seen"] for e in result["evidence"]]
        assert result["outcome"] == "fail" and want in seen, (scenario, seen)
        if mode == "symlink":
            assert f"work/state/outputs/one is a symlink to {decoy}" in seen
    tail = next(c for c in checks if c["check"] == "tail.run_recovers")
    assert tail["outcome"] == "fail" and want in tail["evidence"][0]["seen"]
    for name in REPORTS:
        data = (out / name).read_bytes()
        assert b"DECOY-SECRET" not in data and b"daemon:x:1:1" not in data, name
    assert doc["candidates"]["unsafe-log"]["execution_score"] < 5.0
