"""Launcher script of the reference engine: python3 main.py run|status ...

Puts this file's own folder (never the working directory) on sys.path, then hands the
arguments to refengine.cli and exits with its code.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refengine.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
