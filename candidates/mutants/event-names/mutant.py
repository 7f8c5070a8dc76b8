"""Mutant event-names: the reference engine with one defect. Event type names do not
round-trip: they are written as class-style names without underscores (STEPSUCCEEDED),
which the engine's own reader does not know.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the type names the log writer uses before
handing over to the reference's command line. Caught by: log.schema, status.matches in
the clean-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, eventlog  # noqa: E402

_append = eventlog.EventLog.append


def _append_class_style(self, kind, **fields):
    return _append(self, kind.replace("_", ""), **fields)  # WORKFLOW_STARTED -> WORKFLOWSTARTED


eventlog.EventLog.append = _append_class_style


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
