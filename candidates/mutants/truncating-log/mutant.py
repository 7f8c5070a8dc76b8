"""Mutant truncating-log: the reference engine with one defect. The append bug: the log is
reopened in a truncating mode, so a resume loses history.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how the event log is opened before handing over
to the reference's command line. Caught by: log.append_only in the crash-loop scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, eventlog  # noqa: E402

_init = eventlog.EventLog.__init__


def _init_truncating(self, path, contents):
    _init(self, path, contents)
    os.close(self._fd)  # the bug: reopened like open(path, "w"), not "a"
    self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)


eventlog.EventLog.__init__ = _init_truncating


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
