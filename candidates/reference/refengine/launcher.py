"""The launcher: holds a step's command until its STEP_STARTED is durable.

The engine spawns this in the attempt's new process group, writes STEP_STARTED with
its pid (which the command keeps, through exec), and only then sends the go-ahead
byte. If the engine dies first, the pipe closes with no byte and the command never
runs, so no process can exist that the log does not name.

Usage: python3 -S launcher.py FD ARGV...
"""

import os
import sys


def main() -> None:
    fd = int(sys.argv[1])
    go = os.read(fd, 1)
    os.close(fd)
    if go != b"g":
        os._exit(125)
    argv = sys.argv[2:]
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"engine: cannot run {argv[0]!r}: {exc.strerror}\n")
        os._exit(127)


if __name__ == "__main__":
    main()
