"""Mutant status-rewrites-log: the reference engine with one defect. status rewrites the
log it reads (re-serialising every event), so reading changes bytes on disk.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the status command before handing over to the
reference's command line. Caught by: status.read_only in the clean-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402

from refengine import cli, eventlog  # noqa: E402

_status = cli.cmd_status


def _status_and_rewrite(state_dir):
    code = _status(state_dir)
    contents = eventlog.read(cli.log_path(state_dir))
    if code == 0 and contents is not None:
        with open(cli.log_path(state_dir), "w") as f:  # "normalise" the log while here
            for event in contents.events:
                f.write(json.dumps(event, sort_keys=True) + "\n")
    return code


cli.cmd_status = _status_and_rewrite


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
