"""Mutant skip-corrupt: the reference engine with one defect. A corrupt line in the middle
of the log is silently skipped instead of refused as damage.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how the log is parsed before handing over to
the reference's command line. Caught by: corrupt.run_refuses, corrupt.status_refuses in
the corrupt-middle scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, eventlog  # noqa: E402

_parse = eventlog.parse


def _parse_skipping(raw):
    lines = raw.split(b"\n")
    kept = [ln for ln in lines[:-1] if eventlog._decode(ln) is not None]
    return _parse(b"\n".join([*kept, lines[-1]]))


eventlog.parse = _parse_skipping


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
