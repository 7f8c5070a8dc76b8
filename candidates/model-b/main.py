#!/usr/bin/env python3
"""Entry point: python3 main.py run WORKFLOW_JSON STATE_DIR | python3 main.py status STATE_DIR"""

import sys

from wfengine.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
