"""`data`, `readme`, `tasks` and `clean-cache`: the data sets' state, the README's tables, the task names, the caches."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from .. import paths
from ..atomic_files import check_writable
from ..data.cache import clean_cache
from ..data.catalogue import LOADERS, ensure
from ..data.locations import cache_dir, data_dir
from ..data.report import data_rows
from ..errors import BadInput
from ..recipe.tasks import TASKS
from ..reports.readme import README, update_readme


def add_data(commands) -> None:
    sub = commands.add_parser("data", help="list the data sets: where found, counts, or how to get them")
    sub.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")
    sub.add_argument("--download", action="store_true", help="first fetch every data set that is missing")
    sub.set_defaults(handler=data)


def add_readme(commands) -> None:
    commands.add_parser("readme", help="rewrite the README's result tables from results/*/*.json").set_defaults(
        handler=readme)


def add_tasks(commands) -> None:
    commands.add_parser("tasks", help="list the task names, one per line").set_defaults(handler=tasks)


def add_clean_cache(commands) -> None:
    commands.add_parser("clean-cache", help="delete the processed data caches ($LSTM_TWINS_CACHE or ./cache)"
                        ).set_defaults(handler=clean)


def data(args) -> int:
    if args.download:
        ensure(LOADERS, args.data_dir)
    rows = data_rows(args.data_dir)
    print(f"Data folder: {data_dir(args.data_dir)}\n")
    print(tabulate(rows, headers="keys", tablefmt="github"))
    return 0 if all(r["status"] == "OK" for r in rows) else 1


def readme(args) -> int:
    if paths.RESULTS_DIR != paths.PROJECT_RESULTS:
        raise BadInput(f"LSTM_TWINS_RESULTS is set ({paths.RESULTS_DIR}); the README's tables come from the "
                       f"project's own {paths.PROJECT_RESULTS} only: unset it to rebuild them")
    check_writable(README.parent, movable=False)
    check_writable(paths.PROJECT_RESULTS, movable=False)  # results/runs.csv is rewritten too
    print(f"updated {update_readme()}")
    return 0


def tasks(args) -> int:
    print("\n".join(TASKS))
    return 0


def clean(args) -> int:
    files, size = clean_cache()
    print(f"removed {files} cache file{'s' * (files != 1)} ({size / 2**20:,.1f} MiB) from {cache_dir()}")
    return 0
