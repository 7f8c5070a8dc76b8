"""Mutant extra-attempt: the reference engine with one defect. One attempt too many: a step
fails for good only after max_attempts + 1 failures.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes the retry policy before handing over to the
reference's command line. Caught by: retry.attempt_counts in the retry-exhausted
scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dataclasses  # noqa: E402

from refengine import cli, workflow  # noqa: E402

_retry = workflow._retry


def _retry_plus_one(where, obj):
    policy = _retry(where, obj)
    return dataclasses.replace(policy, max_attempts=policy.max_attempts + 1)


workflow._retry = _retry_plus_one


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
