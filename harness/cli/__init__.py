"""The command line, `python -m harness <command>`: one module per command family, one error path.

Each family module adds its commands' parsers (and their handlers) to the one parser built here;
a handler returns the exit code. Input that cannot be used raises BadInput anywhere below, and
`main` alone turns it into "error: <message>" and exit 2.

May import every room.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import BadInput
from . import check, housekeeping, run, studies, sweep
from .options import check_environment

# in the order `--help` lists them
COMMANDS = (studies.add_parity, housekeeping.add_data, run.add_compare_and_train, sweep.add_sweep,
            studies.add_divergence, studies.add_bench, check.add_check, housekeeping.add_readme, housekeeping.add_tasks,
            housekeeping.add_clean_cache)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description="Command line: python -m harness <command>.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands)
    args = parser.parse_args(argv)
    try:
        check_environment()
        return args.handler(args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
