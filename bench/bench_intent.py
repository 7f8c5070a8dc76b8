"""What reading design intent costs: every bundled candidate (the reference, model-a,
model-b, rustflow where present, every mutant) and every language's fixtures, parsed and
matched against their language's signals, timed end to end in one process.

The issue's bar: all bundled candidates' intent read in under 2 s in total. Loading the
signal files (which checks every rule against its grammars) is timed apart, as is the
first parse (ast-grep loads its grammars lazily). Figures from one run, best of --repeat.

    python bench/bench_intent.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import api  # noqa: E402
from harness import intent as intent_mod  # noqa: E402
from harness.intent import find_signals, load_signals  # noqa: E402
from harness.manifest import load_candidate  # noqa: E402
from harness.tree import candidate_files  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def bundled() -> list[Path]:
    top = [p.parent for p in sorted((ROOT / "candidates").glob("*/candidate.toml"))]
    return top + [p.parent for p in sorted((ROOT / "candidates" / "mutants").glob("*/candidate.toml"))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    languages = load_signals(api.SCORING / "signals")
    load_s = time.perf_counter() - t0
    cands = [load_candidate(p) for p in bundled()]
    files = sum(len(candidate_files(c)) for c in cands)
    runs = []
    per: dict[str, float] = {}
    for _ in range(args.repeat):
        intent_mod._MEMO.clear()  # each run cold: only files shared within the run are read once
        t = time.perf_counter()
        for c in cands:
            s = time.perf_counter()
            intent = find_signals(c, languages)
            per[c.name] = min(per.get(c.name, 1e9), time.perf_counter() - s)
            assert intent.language_known, c.name
        runs.append(time.perf_counter() - t)
    out: dict[str, Any] = {
        "candidates": len(cands), "files": files, "signals_load_s": round(load_s, 3),
        "first_run_s": round(runs[0], 3), "best_run_s": round(min(runs), 3),
        "slowest": sorted(((round(v, 4), k) for k, v in per.items()), reverse=True)[:5],
        "under_2s": runs[0] < 2.0,
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0 if runs[0] < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
