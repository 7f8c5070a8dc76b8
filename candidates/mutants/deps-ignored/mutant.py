"""Mutant deps-ignored: the reference engine with one defect. Dependencies are not
enforced: under parallelism any pending step starts.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes when a step is ready before handing over to the
reference's command line. Caught by: dag.dependency_order in the clean-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, scheduler  # noqa: E402


def _ready_without_deps(self, sid, now):
    return sid not in self.running and self.steps[sid].state == "pending"


scheduler.Scheduler._ready = _ready_without_deps
scheduler.Scheduler._unmet_deps = lambda self, sid: 0  # every step queued from the start


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
