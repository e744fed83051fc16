"""What the commands share: argument types, the config arguments, and the checks made before any work starts."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from ..data.catalogue import ensure
from ..data.sources import mirror
from ..errors import BadInput
from ..paths import checkpoint_folder
from ..provenance import THREAD_VARIABLES
from ..recipe.config import ConfigError, config_path, load_config
from ..recipe.tasks import TASKS, prepare_task
from ..twins import DEFAULT, NAMES, check_available, ordered, resolve

THREADS_VARIABLE = "LSTM_TWINS_NUMPY_THREADS"  # the NumPy twin's (impl_numpy/parallel.py); empty is no number


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return value


TWIN_HELP = (f"{', '.join(NAMES)}, or your own: path/to/twin.py, a module (mypkg.my_lstm) or an entry point "
             "of lstm_twins.twins")


def add_twins_argument(sub: argparse.ArgumentParser, default=DEFAULT, what: str = "the twins") -> None:
    """--twins TWIN ...: names as resolve() takes them, read by chosen_twins()."""
    sub.add_argument("--twins", nargs="+", default=None if default is None else list(default), metavar="TWIN",
                     help=f"{what}: {TWIN_HELP} (default: {' '.join(default) if default else 'see above'})")


def chosen_twins(texts) -> list[str]:
    """The named twins' names, each once, in the registry's order, then outside twins: each found, its
    optional extra installed, an outside one keeping the contract (BadInput before any work)."""
    names = ordered(resolve(text) for text in texts)
    check_available(names)
    return names


def add_config_arguments(sub: argparse.ArgumentParser) -> None:
    """--task, --config and --data-dir: what every command that loads a task's config takes."""
    sub.add_argument("--task", required=True, help=", ".join(TASKS))
    sub.add_argument("--config", type=Path, default=None, help="config file (default configs/<task>.yaml)")
    sub.add_argument("--data-dir", type=Path, default=None, help="data folder (default $LSTM_TWINS_DATA or ./data)")


def checked_config(args) -> tuple[Path, dict]:
    """(path, config) for args.task, with --seed applied where given; ConfigError when it does not check out."""
    path = args.config or config_path(args.task)
    config = load_config(path)
    if config["task"] != args.task:
        raise ConfigError(f"{path}: task is {config['task']!r}, but --task is {args.task!r}")
    if getattr(args, "seed", None) is not None:  # train and divergence: --seed
        config = {**config, "seed": args.seed}
    return path, config


def ensure_task_data(args) -> None:
    """Fetch the task's data sets that are missing (nothing is requested for those present)."""
    ensure(TASKS[args.task].datasets, args.data_dir, progress=not args.no_progress)


def check_tasks(requests) -> None:
    """Load each config's task once, as its runs will, before any of them starts: a setting the data
    cannot meet, a model too large for memory or a broken data file is one line (BadInput) here, not a
    traceback in every run's process."""
    for request in {request.folder: request for request in requests}.values():
        try:
            prepare_task(request.config, request.data_dir, request.quick)
        except ConfigError as error:  # what the config asks and the data (or this machine) cannot give
            raise ConfigError(f"{request.config_file}: {error}") from None


def check_environment() -> None:
    """The variables the runs and downloads read, checked once before any work (BadInput, one line)."""
    for name in THREAD_VARIABLES:
        value = os.environ.get(name)
        if value is not None and (value.strip() or name == THREADS_VARIABLE) and not (
                value.strip().isdigit() and int(value) >= 1):
            raise BadInput(f"{name}={value!r}: expected a whole number of threads >= 1; set it so, or unset it")
    mirror()  # $LSTM_TWINS_MIRROR, if set, must be a URL


def resume_command() -> str:
    """This command line again with --resume: what continues an interrupted run, comparison or sweep."""
    argv = [a for a in sys.argv[1:] if a != "--resume"]
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    return f"{python} -m harness {shlex.join(argv)} --resume"


def interrupted(folder: Path, twin: str, seed: int) -> str:
    """The one line Ctrl-C gets: where the run stopped and the command that resumes it."""
    try:
        latest = checkpoint_folder(folder, twin, seed) / "latest.json"
        epoch = json.loads(latest.read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError):
        epoch = 0
    return f"interrupted after epoch {epoch} of the {twin} run of seed {seed}; resume with: {resume_command()}"
