"""Command line: python -m harness <command>."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path("results")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    parity = commands.add_parser("parity", help="compare the twins' forward passes and gradients")
    parity.add_argument("--updates", type=int, default=100, help="SGD steps in the trajectory (default 100)")
    parity.add_argument("--out", type=Path, default=RESULTS, help="folder for parity.json and parity.md")
    data = commands.add_parser("data", help="list the data sets: where found, counts, or how to get them")
    data.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")
    args = parser.parse_args(argv)

    if args.command == "parity":
        return _parity(args)
    if args.command == "data":
        return _data(args)
    return 2


def _data(args) -> int:
    from tabulate import tabulate

    from .data.locations import data_dir
    from .data.report import data_rows

    rows = data_rows(args.data_dir)
    print(f"Data folder: {data_dir(args.data_dir)}\n")
    print(tabulate(rows, headers="keys", tablefmt="github"))
    return 0 if all(r["status"] == "OK" for r in rows) else 1


def _parity(args) -> int:
    from .atomic_files import write_json_atomic, write_text_atomic
    from .parity import parity_markdown, run_parity

    if args.updates < 1:
        print(f"--updates is {args.updates}; expected a positive integer", file=sys.stderr)
        return 2
    report = run_parity(args.updates)
    write_json_atomic(args.out / "parity.json", report)
    markdown = parity_markdown(report)
    write_text_atomic(args.out / "parity.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
