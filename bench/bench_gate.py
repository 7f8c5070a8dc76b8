"""Benchmark: how long the CI gate of examples/ci takes for one candidate under Docker.

The gate's steps (examples/ci/gate.sh) are: get the base image, score the changed
candidate as it was on the base branch, score it now. This times each, in one run:

- **image, cold**: the base image built from Debian's packages (`harness image
  bootstrap --force`; needs root and the Debian mirror). Only with --cold, since it
  rebuilds the image every other run on this machine uses.
- **image, warm**: the image loaded from its `docker save` archive, as a job whose
  actions/cache hit does it (`docker load`), and the archive's size. With --evict the
  base image and every cached candidate image are removed first, as on a fresh runner
  (the first score then also builds the candidate's image, as there).
- **score**: `gate.sh score` of one candidate with the gate's suite (`--suite quick`
  by default) and with every scenario, each --repeat times (median), Docker runner.

A gate is image + 2 x score (the baseline, then the pull request's engine): the figures
give it cold and warm. Figures are from one run on a noisy machine; the ratios (warm
against cold, quick against the full set) hold better than the seconds.

    python bench/bench_gate.py [--candidate candidates/reference] [--repeat 1] [--cold]
                               [--evict] [--json bench/gate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATE = ROOT / "examples" / "ci" / "gate.sh"


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidate", default="candidates/reference")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="also rebuild the base image (root)")
    ap.add_argument("--evict", action="store_true",
                    help="remove the base image and the candidate images before loading the"
                         " archive, as a fresh runner has neither (the first score then builds"
                         " the candidate's image, as a fresh runner's does)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    harness = str(Path(sys.executable).parent / "harness")
    env = {**os.environ, "HARNESS": harness, "HARNESS_RUNNER": "docker"}
    name = subprocess.run([harness, "image", "name"], capture_output=True, text=True,
                          check=True).stdout.strip()
    result: dict[str, object] = {"candidate": args.candidate, "image": name,
                                 "argv": sys.argv[1:]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            result["image_cold_s"] = round(timed([harness, "image", "bootstrap", "--force"]), 1)
        archive = Path(tmp) / "base.tar"
        result["image_save_s"] = round(timed(["docker", "save", "--output", str(archive), name]), 1)
        result["archive_mb"] = round(archive.stat().st_size / 2**20, 1)
        if args.evict:  # as on a fresh runner: no base image, no candidate image
            timed([harness, "gc", "--all", "--images"])
            timed(["docker", "image", "rm", name])
        result["evicted"] = args.evict
        result["image_warm_s"] = round(timed(["docker", "load", "--quiet", "--input",
                                              str(archive)]), 1)
        for label, select in (("quick", "--suite quick"), ("full", "")):
            runs = [timed(["bash", str(GATE), "score", f"{tmp}/out-{label}-{i}", f"{tmp}/none",
                           args.candidate], {**env, "HARNESS_SELECT": select,
                                             "HARNESS_FAIL_UNDER": "0"})
                    for i in range(args.repeat)]
            result[f"score_{label}_s"] = round(statistics.median(runs), 1)
    quick, full, warm = (float(str(result[k])) for k in ("score_quick_s", "score_full_s",
                                                         "image_warm_s"))
    result["gate_warm_quick_s"] = round(warm + 2 * quick, 1)
    result["gate_warm_full_s"] = round(warm + 2 * full, 1)
    result["quick_over_full"] = round(quick / full, 2)
    if "image_cold_s" in result:
        cold = float(str(result["image_cold_s"]))
        result["gate_cold_quick_s"] = round(cold + 2 * quick, 1)
        result["warm_over_cold"] = round((warm + 2 * quick) / (cold + 2 * quick), 2)
    for k, v in result.items():
        print(f"{k:22} {v}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
