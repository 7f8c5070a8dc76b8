"""Mutant parallel-ignored: the reference engine with one defect. max_parallel is ignored:
every ready step starts at once.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the parsed workflow before handing over to the
reference's command line. Caught by: dag.parallel_bound in the clean-run scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dataclasses  # noqa: E402

from refengine import cli, workflow  # noqa: E402

_parse = workflow.parse


def _parse_unbounded(data):
    return dataclasses.replace(_parse(data), max_parallel=10**6)


workflow.parse = _parse_unbounded


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
