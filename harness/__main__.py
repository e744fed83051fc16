"""`python -m harness <command>`: the command line (harness/cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
