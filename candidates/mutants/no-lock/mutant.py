"""Mutant no-lock: the reference engine with one defect. No single-writer lock: a second
run on the same STATE_DIR goes ahead.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the lock before handing over to the reference's
command line. Caught by: lock.second_run_refused in the concurrent-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, lock  # noqa: E402

lock.acquire = lambda state_dir: os.open(state_dir, os.O_RDONLY)  # a handle, not a lock


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
