"""`sweep`: every (config, seed, twin) run on a pool of this machine or a Ray cluster, then the pages."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .. import paths
from ..atomic_files import check_writable, write_json_atomic, write_text_atomic
from ..data.catalogue import ensure
from ..data.locations import data_dir
from ..recipe.config import config_path, load_config
from ..recipe.tasks import TASKS
from ..reports.comparison import write_comparison
from ..reports.readme import update_readme
from ..reports.sweep_page import summary
from ..studies.sweep import LocalPool, RayPool, SweepError, plan, sweep, sweep_report
from ..training.request import RunRequest
from .options import add_twins_argument, check_tasks, chosen_twins, non_negative, positive, resume_command


def add_sweep(commands) -> None:
    sub = commands.add_parser("sweep", help="every (config, seed, twin) run, several at once: on this machine "
                                            "(--jobs) or on a Ray cluster (--ray)")
    sub.add_argument("--task", nargs="+", choices=tuple(TASKS), default=[], help="the tasks' configs/<task>.yaml")
    sub.add_argument("--config", nargs="+", type=Path, default=[], help="config files")
    sub.add_argument("--seeds", type=non_negative, nargs="+", default=None, metavar="SEED",
                     help="each config once per seed (default: each config's seed)")
    add_twins_argument(sub)
    where = sub.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=positive, default=1, help="runs at a time on this machine (default 1)")
    where.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at ADDRESS; 'local' starts Ray here")
    sub.add_argument("--threads-per-run", type=positive, default=None,
                     help="BLAS/TF/NumPy-twin threads of each run (default: cores / jobs; 1 with --ray)")
    sub.add_argument("--epochs", type=positive, default=None, help="override the configs' epochs")
    sub.add_argument("--quick", action="store_true", help="smoke runs: each config's small subset and few epochs")
    sub.add_argument("--resume", action="store_true",
                     help="skip complete runs, continue interrupted ones from their checkpoints")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_argument("--report", type=Path, default=None,
                     help="also write the summary here as JSON (and beside it as .md), e.g. results/sweeps/NAME.json")
    sub.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")
    sub.set_defaults(handler=run_sweep)


def run_sweep(args) -> int:
    """The cross product of runs on the chosen pool; exit 0 only when every run completed."""
    files = [config_path(task) for task in args.task] + list(args.config)
    if not files:
        raise SweepError("name the runs: --task TASK ... and/or --config FILE ...")
    if args.report is not None:
        if args.report.is_dir() or args.report.suffix != ".json":
            raise SweepError(f"--report {args.report}: expected a file name ending in .json, as "
                             "results/sweeps/NAME.json")
        check_writable(args.report.parent)
    twins = chosen_twins(args.twins)
    backend = RayPool(args.ray) if args.ray else LocalPool(args.jobs)
    tasks = {load_config(path)["task"] for path in files}
    data = data_dir(args.data_dir).absolute()  # what every worker reads, wherever it starts
    ensure([d for task in sorted(tasks) for d in TASKS[task].datasets], data, progress=not args.no_progress)
    threads = args.threads_per_run or (1 if args.ray else max(1, (os.cpu_count() or 1) // args.jobs))
    requests = plan(files, args.seeds, twins, args.epochs, args.quick, args.resume, data, threads)
    check_tasks(requests)
    start, report = time.perf_counter(), {}

    def finish(done: list[dict]) -> None:
        """The sweep's report first, so that the README rebuilt next lists this sweep too."""
        report.update(sweep_report(done, time.perf_counter() - start, backend, requests))
        if args.report:
            write_json_atomic(args.report, report)
            write_text_atomic(args.report.with_suffix(".md"), f"# Sweep `{args.report.stem}`\n\n{summary(report)}\n")
        rebuild_pages(requests, done)

    try:
        rows = sweep(requests, backend, progress=not args.no_progress, then=finish)
    except KeyboardInterrupt:  # the runs got Ctrl-C too: each stops after its last checkpoint
        print(f"interrupted; the finished runs are written, the others resume with: {resume_command()}",
              file=sys.stderr)
        return 130
    print(summary(report))
    bad = [row for row in rows if row["outcome"] in ("failed", "diverged")]
    for row in bad:
        print(f"error: the {row['twin']} run of {row['config']} seed {row['seed']} {row['outcome']}: {row['note']}",
              file=sys.stderr)
    return 1 if bad else 0


def rebuild_pages(requests: list[RunRequest], rows: list[dict]) -> None:
    """Each folder's comparison page from what completed (failed runs named); the README when a project
    config's own runs in the project's results/ changed."""
    folders = {}
    for request, row in zip(requests, rows):
        entry = folders.setdefault(request.folder, (request.settings_digest, set(), {}))
        entry[1].add(request.seed)
        if row["outcome"] == "failed":
            entry[2][(request.twin, request.seed)] = row["note"]
    for folder, (digest, seeds, failed) in folders.items():
        write_comparison(folder, digest, sorted(seeds), failed)
    changed = [request for request, row in zip(requests, rows) if row["outcome"] in ("done", "resumed", "diverged")]
    if any(not r.quick and r.config_file.parent == paths.CONFIG_DIR.resolve()
           and r.folder.parent == paths.PROJECT_RESULTS for r in changed):
        update_readme()
