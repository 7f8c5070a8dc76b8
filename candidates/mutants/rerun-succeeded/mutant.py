"""Mutant rerun-succeeded: the reference engine with one defect. Replay on resume forgets
successes, so succeeded steps run again.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes replay before handing over to the reference's
command line. Caught by: crash.no_rerun_after_success in the crash-loop scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, state  # noqa: E402

_replay = state.replay


def _replay_forgetting(events):
    steps = _replay(events)
    if any(e["type"] == "WORKFLOW_RESUMED" for e in events):
        for s in steps.values():
            if s.state == "succeeded":
                s.state = "pending"
    return steps


state.replay = _replay_forgetting


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
