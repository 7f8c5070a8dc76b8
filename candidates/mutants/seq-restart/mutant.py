"""Mutant seq-restart: the reference engine with one defect. seq restarts at 1 on every
resume instead of carrying on from the log.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how seq is numbered before handing over to the
reference's command line. Caught by: log.seq_contiguous in the crash-loop scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import time  # noqa: E402

from refengine import cli, eventlog  # noqa: E402

_init = eventlog.EventLog.__init__


def _init_counting_from_here(self, path, contents):
    _init(self, path, contents)
    self._first = len(self.events)  # events written before this run are not counted


def _append(self, kind, **fields):
    event = {"seq": len(self.events) + 1 - self._first, "type": kind, "ts": time.time(), **fields}
    os.write(self._fd, (json.dumps(event, separators=(",", ":")) + "\n").encode())
    os.fsync(self._fd)
    self.events.append(event)
    return event


eventlog.EventLog.__init__ = _init_counting_from_here
eventlog.EventLog.append = _append
eventlog._validate = lambda number, event: None  # its own reader accepts what it wrote


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
