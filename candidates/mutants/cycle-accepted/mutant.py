"""Mutant cycle-accepted: the reference engine with one defect. A dependency cycle is
accepted: the validator never looks for one.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes workflow validation before handing over to the
reference's command line. Caught by: inputs.invalid_rejected in the invalid-workflow
scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, workflow  # noqa: E402

workflow._check_acyclic = lambda steps: None


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
