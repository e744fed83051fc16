"""`parity`, `divergence` and `bench`: the studies run, then their pages written."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import paths
from ..atomic_files import check_writable, write_json_atomic, write_text_atomic
from ..paths import relative_to_project
from ..recipe.config import effective_config
from ..recipe.tasks import TASKS
from ..reports.bench_page import bench_page, epoch_seconds
from ..reports.divergence_page import divergence_markdown
from ..reports.parity_page import parity_failures, parity_markdown
from ..studies.bench import (check_contenders, check_epoch_data, check_shapes, contenders, epoch_configs, merged,
                              run_bench)
from ..studies.divergence import trajectory_divergence
from ..studies.parity import THRESHOLDS, run_parity
from ..training.request import config_folder
from ..twins import DEFAULT, check_available, resolve
from .options import TWIN_HELP, add_config_arguments, checked_config, chosen_twins, non_negative, positive


def add_parity(commands) -> None:
    sub = commands.add_parser("parity", help="compare the twins' forward passes and gradients")
    sub.add_argument("--updates", type=positive, default=100, help="SGD steps in the trajectory (default 100)")
    sub.add_argument("--out", type=Path, default=None, help="folder for parity.json and parity.md (default results/)")
    sub.set_defaults(handler=parity)


def add_divergence(commands) -> None:
    sub = commands.add_parser("divergence", help="how fast the twins' float64 trajectories separate on a config")
    add_config_arguments(sub)
    sub.add_argument("--steps", type=positive, default=200, help="SGD steps (default 200)")
    sub.add_argument("--seed", type=non_negative, default=None, help="override the config's seed")
    sub.add_argument("--twins", nargs=2, default=list(DEFAULT), metavar="TWIN",
                     help=f"the twin, then the one it is measured against: {TWIN_HELP} (default: {' '.join(DEFAULT)})")
    sub.set_defaults(handler=divergence)


def add_bench(commands) -> None:
    sub = commands.add_parser("bench", help="training-step throughput of each twin per task shape, each in its own process")
    sub.add_argument("--task", action="append", choices=tuple(TASKS),
                     help="benchmark only this task (repeatable; default all four)")
    sub.add_argument("--shape", action="append", default=None, metavar="NAME",
                     help="benchmark only this shape, as the page names it (repeatable; default every shape)")
    sub.add_argument("--rounds", type=positive, default=5,
                     help="fresh processes per twin and task, alternating (default 5)")
    sub.add_argument("--twins", nargs="+", default=None, metavar="TWIN",
                     help=f"the NumPy twin and those it is timed against: {TWIN_HELP} (default: every installed twin)")
    sub.add_argument("--epochs", action="store_true",
                     help="also time one training epoch per twin of each field-level config on its real data "
                          "(needs the data; minutes per twin)")
    sub.set_defaults(handler=bench)


def parity(args) -> int:
    out = args.out or paths.RESULTS_DIR
    check_writable(out)
    print(f"parity thresholds (relative): float64 <= {THRESHOLDS['float64']:.0e}, float32 <= "
          f"{THRESHOLDS['float32']:.0e}, float64 trajectory of {args.updates} steps <= {THRESHOLDS['trajectory']:.0e}",
          flush=True)
    report = run_parity(args.updates)
    write_json_atomic(out / "parity.json", report)
    markdown = parity_markdown(report)
    write_text_atomic(out / "parity.md", markdown)
    print(markdown)
    failures = parity_failures(report)
    for failure in failures:
        print(f"error: parity fails: {failure}", file=sys.stderr)
    return 1 if failures else 0


def divergence(args) -> int:
    path, config = checked_config(args)
    twins = (resolve(args.twins[0]), resolve(args.twins[1]))
    check_available(twins)
    folder = config_folder(path, effective_config(config, None, False))
    check_writable(folder)
    report = trajectory_divergence(config, args.steps, args.data_dir, twins)
    report = {"config_file": relative_to_project(path), "seed": config["seed"], **report}
    name = "divergence" if twins == DEFAULT else f"divergence-{'-'.join(twins)}"
    write_json_atomic(folder / f"{name}.json", report)
    markdown = divergence_markdown(report)
    write_text_atomic(folder / f"{name}.md", markdown)
    print(markdown)
    return 0


def bench(args) -> int:
    out = paths.RESULTS_DIR
    check_writable(out)
    twins = chosen_twins(args.twins) if args.twins else contenders()
    check_contenders(twins)  # before any work
    check_shapes(args.shape or ())
    if args.epochs:
        check_epoch_data(epoch_configs(args.task or tuple(TASKS), args.shape))
    report = merged(run_bench(args.task or tuple(TASKS), args.rounds, twins=twins, shapes=args.shape,
                              epochs=args.epochs), out / "bench.json")
    write_json_atomic(out / "bench.json", report)
    page = bench_page(report, epoch_seconds(report, paths.RESULTS_DIR, paths.CONFIG_DIR))
    write_text_atomic(out / "bench.md", page)
    print(page)
    return 0
