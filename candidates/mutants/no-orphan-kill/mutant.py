"""Mutant no-orphan-kill: the reference engine with one defect. Resume records interrupted
attempts as lost without ending their old process groups.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes recovery on resume before handing over to the
reference's command line. Caught by: procs.orphans_ended_before_rerun in the orphans-
after-sigkill scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, state  # noqa: E402


def _recover_without_killing(wf, state_dir, log):
    log.append("WORKFLOW_RESUMED")
    for sid, s in state.replay(log.events).items():
        for attempt in sorted(s.running):
            log.append("STEP_FAILED", step=sid, attempt=attempt, reason="lost")
    return state.replay(log.events)


cli.recover = _recover_without_killing


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
