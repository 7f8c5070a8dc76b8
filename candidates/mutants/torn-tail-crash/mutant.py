"""Mutant torn-tail-crash: the reference engine with one defect. run crashes on a torn
final line instead of cutting it off.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how run opens a log with a torn tail before
handing over to the reference's command line. Caught by: tail.run_recovers in the torn-
tail scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, eventlog  # noqa: E402

_init = eventlog.EventLog.__init__


def _init_refusing_torn(self, path, contents):
    if contents is not None and contents.torn:
        raise ValueError("unexpected end of the event log")  # an internal error, exit 1
    _init(self, path, contents)


eventlog.EventLog.__init__ = _init_refusing_torn


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
