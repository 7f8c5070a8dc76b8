"""Mutant ignores-digest: the reference engine with one defect. A changed workflow is
accepted on resume: the digest in WORKFLOW_STARTED is never compared.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes resume's workflow check before handing over to
the reference's command line. Caught by: inputs.changed_workflow_refused in the changed-
workflow scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dataclasses  # noqa: E402

from refengine import cli  # noqa: E402

_start = cli.start


def _start_trusting(wf, state_dir, contents):
    if contents is not None and contents.events:
        wf = dataclasses.replace(wf, digest=contents.events[0].get("digest"))
    return _start(wf, state_dir, contents)


cli.start = _start_trusting


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
