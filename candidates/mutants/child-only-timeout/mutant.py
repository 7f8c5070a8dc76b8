"""Mutant child-only-timeout: the reference engine with one defect. A timeout (and every
other ending) signals only the attempt's direct child, not its process group.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how an attempt's group is signalled before
handing over to the reference's command line. Caught by: procs.timeout_group_ended,
procs.none_survive in the timeout-kills-group scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, supervisor  # noqa: E402


def _signal_child(pgid, sig):
    try:
        os.kill(pgid, sig)  # the leader only: its children and grandchildren live on
    except ProcessLookupError:
        pass


def _child_alive(pgid):
    try:
        os.kill(pgid, 0)
    except ProcessLookupError:
        return False
    return True


supervisor.signal_group = _signal_child
supervisor.group_alive = _child_alive


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
