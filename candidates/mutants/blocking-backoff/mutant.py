"""Mutant blocking-backoff: the reference engine with one defect. Backoff sleeps inside the
scheduler loop, so nothing else starts or is reaped meanwhile.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes what happens after a retry is scheduled before
handing over to the reference's command line. Caught by: retry.progress_during_backoff
in the retry-backoff scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import time  # noqa: E402

from refengine import cli, scheduler  # noqa: E402

_schedule_retry = scheduler.Scheduler._schedule_retry


def _schedule_and_sleep(self, sid):
    _schedule_retry(self, sid)
    if sid in self.due:
        time.sleep(max(0.0, self.due[sid] - time.monotonic()))  # the whole loop waits


scheduler.Scheduler._schedule_retry = _schedule_and_sleep


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
