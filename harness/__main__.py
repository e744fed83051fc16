"""Command line: python -m harness <command>."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

from .tasks import TASKS
from .twins import NAMES as TWINS
LOCK_HELD = "LSTM_TWINS_LOCK_HELD"  # set by compare for its train processes: the folder it has locked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    parity = commands.add_parser("parity", help="compare the twins' forward passes and gradients")
    parity.add_argument("--updates", type=_positive, default=100, help="SGD steps in the trajectory (default 100)")
    parity.add_argument("--out", type=Path, default=None, help="folder for parity.json and parity.md (default results/)")

    data = commands.add_parser("data", help="list the data sets: where found, counts, or how to get them")
    data.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")
    data.add_argument("--download", action="store_true", help="first fetch every data set that is missing")

    for name, text in (("compare", "train both twins (or one) on a task and write the comparison"),
                       ("train", "train one twin on a task and write its JSON (what compare runs per twin)")):
        sub = commands.add_parser(name, help=text)
        _add_config_arguments(sub)
        sub.add_argument("--twin", choices=("both", *TWINS) if name == "compare" else TWINS,
                         default="both" if name == "compare" else None, required=name == "train")
        sub.add_argument("--epochs", type=_positive, default=None, help="override the config's epochs")
        sub.add_argument("--quick", action="store_true", help="smoke run: the config's small subset and few epochs")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        sub.add_argument("--resume", action="store_true", help="continue from the last complete epoch's checkpoint")
        if name == "compare":
            sub.add_argument("--seeds", type=_non_negative, nargs="+", default=None, metavar="SEED",
                             help="run each twin once per seed (default: the config's seed)")
        else:
            sub.add_argument("--seed", type=_non_negative, default=None, help="override the config's seed")

    sweep = commands.add_parser("sweep", help="every (config, seed, twin) run, several at once: on this machine "
                                              "(--jobs) or on a Ray cluster (--ray)")
    sweep.add_argument("--task", nargs="+", choices=tuple(TASKS), default=[], help="the tasks' configs/<task>.yaml")
    sweep.add_argument("--config", nargs="+", type=Path, default=[], help="config files")
    sweep.add_argument("--seeds", type=_non_negative, nargs="+", default=None, metavar="SEED",
                       help="each config once per seed (default: each config's seed)")
    sweep.add_argument("--twins", nargs="+", choices=TWINS, default=list(TWINS), help="default: both")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_positive, default=1, help="runs at a time on this machine (default 1)")
    where.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at ADDRESS; 'local' starts Ray here")
    sweep.add_argument("--threads-per-run", type=_positive, default=None,
                       help="BLAS/TF/NumPy-twin threads of each run (default: cores / jobs; 1 with --ray)")
    sweep.add_argument("--epochs", type=_positive, default=None, help="override the configs' epochs")
    sweep.add_argument("--quick", action="store_true", help="smoke runs: each config's small subset and few epochs")
    sweep.add_argument("--resume", action="store_true",
                       help="skip complete runs, continue interrupted ones from their checkpoints")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--report", type=Path, default=None,
                       help="also write the summary here as JSON (and beside it as .md), e.g. results/sweeps/NAME.json")
    sweep.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")

    divergence = commands.add_parser("divergence", help="how fast the twins' float64 trajectories separate on a config")
    _add_config_arguments(divergence)
    divergence.add_argument("--steps", type=_positive, default=200, help="SGD steps (default 200)")
    divergence.add_argument("--seed", type=_non_negative, default=None, help="override the config's seed")

    bench = commands.add_parser("bench",
                                help="training-step throughput of each twin per task shape, each in its own process")
    bench.add_argument("--task", action="append", choices=tuple(TASKS),
                       help="benchmark only this task (repeatable; default all four)")
    bench.add_argument("--rounds", type=_positive, default=5,
                       help="fresh processes per twin and task, alternating (default 5)")
    commands.add_parser("readme", help="rewrite the README's result tables from results/*/*.json")
    commands.add_parser("tasks", help="list the task names, one per line")
    commands.add_parser("clean-cache", help="delete the processed data caches ($LSTM_TWINS_CACHE or ./cache)")
    args = parser.parse_args(argv)
    return {"parity": _parity, "data": _data, "compare": _compare, "train": _train, "readme": _readme,
            "bench": _bench, "divergence": _divergence, "sweep": _sweep, "clean-cache": _clean_cache,
            "tasks": lambda _: print("\n".join(TASKS)) or 0}[args.command](args)


def _add_config_arguments(sub: argparse.ArgumentParser) -> None:
    """--task, --config and --data-dir: what every command that loads a task's config takes."""
    sub.add_argument("--task", required=True, help=", ".join(TASKS))
    sub.add_argument("--config", type=Path, default=None, help="config file (default configs/<task>.yaml)")
    sub.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return value


def _parity(args) -> int:
    from .atomic_files import write_json_atomic, write_text_atomic
    from .parity import THRESHOLDS, parity_failures, parity_markdown, run_parity
    from .paths import RESULTS_DIR

    out = args.out or RESULTS_DIR
    if not _writable(out):
        return 2
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


def _data(args) -> int:
    from tabulate import tabulate

    from .data.locations import data_dir
    from .data.report import data_rows

    if args.download:
        from .data.download import DownloadError, ensure
        from .data.locations import DataMissingError
        try:
            ensure([d for task in TASKS.values() for d in task.datasets], args.data_dir)
        except (DownloadError, DataMissingError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    rows = data_rows(args.data_dir)
    print(f"Data folder: {data_dir(args.data_dir)}\n")
    print(tabulate(rows, headers="keys", tablefmt="github"))
    return 0 if all(r["status"] == "OK" for r in rows) else 1


def _checked_config(args):
    """(path, config) for args.task with --seed applied where given, or (None, None) after printing the error."""
    from .config import ConfigError, config_path, load_config

    try:
        path = args.config or config_path(args.task)
        config = load_config(path)
        if config["task"] != args.task:
            raise ConfigError(f"{path}: task is {config['task']!r}, but --task is {args.task!r}")
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return None, None
    if getattr(args, "seed", None) is not None:  # train and divergence: --seed
        config = {**config, "seed": args.seed}
    return path, config


def _run_folder(args, path, config):
    """(the run's config, with the epochs it trains; its results folder: results/<config>/, or one of
    its own for an override)."""
    from .config import effective_config
    from .paths import results_folder

    quick = getattr(args, "quick", False)
    config = effective_config(config, getattr(args, "epochs", None), quick)
    return config, results_folder(path, config, quick)


def _writable(folder) -> bool:
    """Whether results can be written into folder; if not, say so (before any work is done)."""
    from .atomic_files import NotWritable, check_writable

    try:
        check_writable(folder)
    except NotWritable as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def _data_ready(args) -> bool:
    """Fetch the task's data sets that are missing (nothing is requested for those present); False after
    printing why, when that fails."""
    from .data.download import DownloadError, ensure
    from .data.locations import DataMissingError
    try:
        ensure(TASKS[args.task].datasets, args.data_dir, progress=not args.no_progress)
    except (DownloadError, DataMissingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def _ready_to_run(args):
    """(config path, the run's config, results folder) once the config checks out, the data is there and
    the folder can be written; (None, None, None) after saying what is wrong."""
    path, config = _checked_config(args)
    if config is None or not _data_ready(args):
        return None, None, None
    config, folder = _run_folder(args, path, config)
    return (path, config, folder) if _writable(folder) else (None, None, None)


def _train(args) -> int:
    from .atomic_files import LockedError, exclusive_lock
    from .checkpoints import CheckpointError
    from .data.locations import DataMissingError
    from .run import RunConflict, run_twin

    path, config, folder = _ready_to_run(args)
    if folder is None:
        return 2
    lock = nullcontext() if os.environ.get(LOCK_HELD) == str(folder) else exclusive_lock(folder / ".lock")
    try:
        with lock:
            run = run_twin(args.twin, config, path, args.epochs, args.quick, args.data_dir, not args.no_progress,
                           args.resume)
    except (DataMissingError, CheckpointError, LockedError, RunConflict) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.environ.get(LOCK_HELD) != str(folder):  # under compare, the parent says it
            print(_interrupted(folder, args.twin, config["seed"]), file=sys.stderr)
        return 130
    return 0 if run["status"] == "complete" else 3


def _compare(args) -> int:
    """Each (seed, twin) in its own process; exit 0 only when every run completed."""
    from .atomic_files import LockedError, exclusive_lock
    from .config import settings_digest
    from .results import write_comparison
    from .sweep import exit_reason

    path, config, folder = _ready_to_run(args)
    if folder is None:
        return 2
    twins = TWINS if args.twin == "both" else (args.twin,)
    seeds = args.seeds or [config["seed"]]
    failed, diverged = {}, []
    try:
        # one comparison of a folder at a time: no mixed results. Each child inherits the locked file,
        # so the lock holds until the last of them ends, even if this process is killed first.
        with exclusive_lock(folder / ".lock") as lock:
            for seed, twin in ((seed, twin) for seed in seeds for twin in twins):
                # each run in its own process: its own peak memory, and a crash stays its own
                command = [sys.executable, "-m", "harness", "train", "--task", args.task, "--twin", twin,
                           "--config", str(path), "--seed", str(seed)]
                command += ["--epochs", str(args.epochs)] if args.epochs else []
                command += ["--data-dir", str(args.data_dir)] if args.data_dir else []
                flags = (("--quick", args.quick), ("--no-progress", args.no_progress), ("--resume", args.resume))
                command += [flag for flag, on in flags if on]
                child = subprocess.Popen(command, env={**os.environ, LOCK_HELD: str(folder)},
                                         pass_fds=(lock.fileno(),))
                try:
                    code = child.wait()
                except KeyboardInterrupt:  # Ctrl-C reaches the child too: it stops after its checkpoint
                    child.wait()
                    print(_interrupted(folder, twin, seed), file=sys.stderr)
                    return 130
                if code == 2:  # bad input: the other runs would fail the same way
                    return 2
                if code == 3:
                    diverged.append(f"{twin} seed {seed}")
                elif code != 0:
                    failed[(twin, seed)] = exit_reason(code)
            for written in write_comparison(folder, settings_digest(config, args.quick), seeds, failed):
                print(f"wrote {written}")
    except LockedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for (twin, seed), why in failed.items():
        print(f"error: the {twin} run of seed {seed} failed: {why}; its earlier record, if any, is left as it was "
              f"and not shown. Rerun it (add --resume to continue from its last checkpoint)", file=sys.stderr)
    for name in diverged:
        print(f"error: the {name} run diverged (see its JSON and the table)", file=sys.stderr)
    return 1 if failed or diverged else 0


def _sweep(args) -> int:
    """The cross product of runs on the chosen pool; exit 0 only when every run completed."""
    import time

    from .atomic_files import LockedError, NotWritable
    from .config import ConfigError, config_path, load_config
    from .data.download import DownloadError, ensure
    from .data.locations import DataMissingError
    from .run import RunConflict
    from .atomic_files import write_json_atomic, write_text_atomic
    from .sweep import LocalPool, RayPool, SweepError, summary, sweep, sweep_report, units

    files = [config_path(task) for task in args.task] + list(args.config)
    try:
        if not files:
            raise SweepError("name the runs: --task TASK ... and/or --config FILE ...")
        if args.report is not None and not _writable(args.report.parent):
            return 2
        tasks = {load_config(path)["task"] for path in files}
        ensure([d for task in sorted(tasks) for d in TASKS[task].datasets], args.data_dir,
               progress=not args.no_progress)
        threads = args.threads_per_run or (1 if args.ray else max(1, (os.cpu_count() or 1) // args.jobs))
        backend = RayPool(args.ray) if args.ray else LocalPool(args.jobs)
        plan = units(files, args.seeds, args.twins, args.epochs, args.quick, args.resume, args.data_dir, threads)
        start = time.perf_counter()
        rows = sweep(plan, backend, progress=not args.no_progress)
    except (ConfigError, SweepError, DownloadError, DataMissingError, RunConflict, LockedError, NotWritable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the runs got Ctrl-C too: each stops after its last checkpoint
        print(f"interrupted; the finished runs are written, the others resume with: {_resume_command()}",
              file=sys.stderr)
        return 130
    report = sweep_report(rows, time.perf_counter() - start, backend, plan)
    print(summary(report))
    if args.report:
        write_json_atomic(args.report, report)
        write_text_atomic(args.report.with_suffix(".md"), f"# Sweep `{args.report.stem}`\n\n{summary(report)}\n")
    bad = [row for row in rows if row["outcome"] in ("failed", "diverged")]
    for row in bad:
        print(f"error: the {row['twin']} run of {row['config']} seed {row['seed']} {row['outcome']}: {row['note']}",
              file=sys.stderr)
    return 1 if bad else 0


def _interrupted(folder: Path, twin: str, seed: int) -> str:
    """The one line Ctrl-C gets: where the run stopped and the command that resumes it."""
    import json

    from .paths import checkpoint_folder

    try:
        latest = checkpoint_folder(folder, twin, seed) / "latest.json"
        epoch = json.loads(latest.read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError):
        epoch = 0
    return f"interrupted after epoch {epoch} of the {twin} run of seed {seed}; resume with: {_resume_command()}"


def _resume_command() -> str:
    """This command line again with --resume: what continues an interrupted run, comparison or sweep."""
    import shlex

    argv = [a for a in sys.argv[1:] if a != "--resume"]
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    return f"{python} -m harness {shlex.join(argv)} --resume"


def _divergence(args) -> int:
    from .atomic_files import write_json_atomic, write_text_atomic
    from .data.locations import DataMissingError
    from .divergence import divergence_markdown, trajectory_divergence
    from .paths import relative_to_project

    path, config = _checked_config(args)
    if config is None:
        return 2
    _, folder = _run_folder(args, path, config)
    if not _writable(folder):
        return 2
    try:
        report = trajectory_divergence(config, args.steps, args.data_dir)
    except DataMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = {"config_file": relative_to_project(path), "seed": config["seed"], **report}
    write_json_atomic(folder / "divergence.json", report)
    markdown = divergence_markdown(report)
    write_text_atomic(folder / "divergence.md", markdown)
    print(markdown)
    return 0


def _bench(args) -> int:
    from .bench import main_bench, pytorch_python
    from .paths import RESULTS_DIR

    if not _writable(RESULTS_DIR):
        return 2
    try:
        pytorch_python()  # a wrong $LSTM_TWINS_TORCH_PYTHON is said before any work
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return main_bench(args.task or tuple(TASKS), args.rounds, RESULTS_DIR)


def _clean_cache(args) -> int:
    from .data.cache import clean_cache
    from .data.locations import cache_dir

    files, size = clean_cache()
    print(f"removed {files} cache file{'s' * (files != 1)} ({size / 2**20:,.1f} MiB) from {cache_dir()}")
    return 0


def _readme(args) -> int:
    from .readme import README, update_readme

    if not _writable(README.parent):
        return 2
    print(f"updated {update_readme()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
