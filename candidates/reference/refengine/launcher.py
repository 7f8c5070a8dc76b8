"""The launcher: holds a step's command until its STEP_STARTED is durable.

Properties kept on purpose:
- The engine spawns this in the attempt's own process group, writes STEP_STARTED with
  its pid, and only then sends the go-ahead byte. The launcher then execs the command,
  which keeps the pid and pgid that the log names.
- If the engine dies first, the pipe closes with no byte and the command never runs,
  so no step process can exist that the log does not name.
- If exec fails, the attempt exits 127, like a shell's "command not found".
- Python ignores SIGPIPE and SIGXFSZ at startup, and an ignored signal survives exec:
  both are reset to the default so the command starts as if spawned directly.

Usage (by the engine only): python3 -I -S launcher.py FD ARGV...
"""

import os
import signal
import sys


def main() -> None:
    fd = int(sys.argv[1])
    go = os.read(fd, 1)
    os.close(fd)
    if go != b"g":
        os._exit(125)  # the engine died before STEP_STARTED was durable: run nothing
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    argv = sys.argv[2:]
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"engine: cannot run {argv[0]!r}: {exc.strerror}\n")
        sys.stderr.flush()
        os._exit(127)


if __name__ == "__main__":
    main()
