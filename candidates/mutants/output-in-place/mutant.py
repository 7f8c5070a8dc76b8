"""Mutant output-in-place: the reference engine with one defect. Outputs are written in
place, in chunks, at outputs/ID, so a reader can see a partial file.

This folder extends candidates/reference (see candidate.toml): the reference's files lie
beside this one, and this module changes how an output is published before handing over
to the reference's command line. Caught by: outputs.atomic in the duplicate-outputs
scenario.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine import cli, outputs  # noqa: E402


def _publish_in_place(state_dir, step, attempt):
    src = outputs.attempt_output(state_dir, step, attempt)
    if not os.path.isfile(src):
        return
    outdir = os.path.join(state_dir, "outputs")
    os.makedirs(outdir, exist_ok=True)
    dst = os.path.join(outdir, step)
    if os.path.exists(dst):
        return  # published once all the same
    with open(src, "rb") as f, open(dst, "wb") as out:
        while chunk := f.read(4096):
            out.write(chunk)  # a reader may see any prefix of the output
            out.flush()


outputs.publish = _publish_in_place


if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
