"""Mutant acts-before-durable: the reference engine with one defect. A step's success is
applied and acted on (its dependents start) before STEP_SUCCEEDED is written.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the order of apply and persist on success
before handing over to the reference's command line. Caught by: log.durable_before_acted
in the clean-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import time  # noqa: E402

from refengine import cli, outputs, scheduler  # noqa: E402

_record_end = scheduler.Scheduler._record_end


def _apply_then_persist(self, a):
    if a.returncode != 0 or a.timed_out:
        return _record_end(self, a)
    s = self.steps[a.step]
    s.state, s.succeeded_attempt = "succeeded", a.attempt  # applied first ...
    self._succeeded(a.step)  # ... and acted on: dependents are queued ...
    self._start_ready(time.monotonic())  # ... and start now ...
    self.log.append("STEP_SUCCEEDED", step=a.step, attempt=a.attempt)  # ... persisted last
    outputs.publish(self.state_dir, a.step, a.attempt)
    return None


scheduler.Scheduler._record_end = _apply_then_persist


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
