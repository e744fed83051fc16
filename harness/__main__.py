"""`python -m harness <command>`: the command line (harness/cli), in a process that stops on SIGTERM as on
Ctrl-C and, when compare started it, ends with its parent."""

import sys

from .cli import main
from .stopping import end_with_parent, stop_on_signals

if __name__ == "__main__":
    stop_on_signals()
    end_with_parent()
    sys.exit(main())
