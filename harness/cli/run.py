"""`compare` (every seed and twin, each run in its own process, then the comparison page) and `train` (one run)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import replace

from ..atomic_files import check_writable, exclusive_lock
from ..errors import BadInput
from ..reports.comparison import write_comparison
from ..stopping import child_environment, stop
from ..studies.sweep import exit_reason
from ..training.request import RunRequest, run_request
from ..training.run import earlier_run, run_and_write
from .options import (
    TWIN_HELP,
    add_config_arguments,
    add_twins_argument,
    check_tasks,
    checked_config,
    chosen_twins,
    ensure_task_data,
    interrupted,
    non_negative,
    positive,
)

LOCK_HELD = "LSTM_TWINS_LOCK_HELD"  # set by compare for its train processes: the folder it has locked


def add_compare_and_train(commands) -> None:
    for name, text in (("compare", "train the twins (--twins) on a task and write the comparison"),
                       ("train", "train one twin on a task and write its JSON (what compare runs per twin)")):
        sub = commands.add_parser(name, help=text)
        add_config_arguments(sub)
        if name == "compare":
            add_twins_argument(sub)
        else:
            sub.add_argument("--twin", required=True, help=TWIN_HELP)
        sub.add_argument("--epochs", type=positive, default=None, help="override the config's epochs")
        sub.add_argument("--quick", action="store_true", help="smoke run: the config's small subset and few epochs")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        sub.add_argument("--resume", action="store_true", help="continue from the last complete epoch's checkpoint")
        if name == "compare":
            sub.add_argument("--seeds", type=non_negative, nargs="+", default=None, metavar="SEED",
                             help="run each twin once per seed (default: the config's seed)")
        else:
            sub.add_argument("--seed", type=non_negative, default=None, help="override the config's seed")
        sub.set_defaults(handler=compare if name == "compare" else train)


def requests(args, twins, seeds=(None,)) -> list[RunRequest]:
    """The run of each (seed, twin), once the config checks out, the data is there and the results folder
    can be written (BadInput, before any work, when not); seed None: the config's (or --seed)."""
    path, config = checked_config(args)
    ensure_task_data(args)
    made = [run_request(path, config, twin, seed=seed, epochs=args.epochs, quick=args.quick, resume=args.resume,
                        data_dir=args.data_dir) for seed in seeds for twin in twins]
    check_writable(made[0].folder)  # one folder for every seed and twin
    return made


def train(args) -> int:
    request, = requests(args, chosen_twins([args.twin]))
    folder = request.folder
    lock = nullcontext() if os.environ.get(LOCK_HELD) == str(folder) else exclusive_lock(folder / ".lock")
    try:
        with lock:
            record = run_and_write(request, progress=not args.no_progress)
    except KeyboardInterrupt:
        if os.environ.get(LOCK_HELD) != str(folder):  # under compare, the parent says it
            print(interrupted(folder, request.twin, request.seed), file=sys.stderr)
        return 130
    return 0 if record["status"] == "complete" else 3


def rerun_hint(request: RunRequest) -> str:
    """What to do after a run failed, as things are: --resume keeps a complete record of these settings
    that the run leaves behind, and continues from the checkpoint only when there is none."""
    try:
        kept = earlier_run(replace(request, resume=True))
    except BadInput:
        kept = None
    if kept is not None:
        return (f"{request.output.name} still holds a complete run of these settings, which --resume keeps as it is "
                "and which the page does not show; rerun without --resume to train it again")
    return "its earlier record, if any, is left as it was and not shown. Rerun it (add --resume to continue from " \
           "its last checkpoint)"


def compare(args) -> int:
    """Each (seed, twin) in its own process; exit 0 only when every run completed."""
    twins = chosen_twins(args.twins)  # each once, in the registry's order
    made = requests(args, twins, list(dict.fromkeys(args.seeds or (None,))))  # a seed named twice runs once
    check_tasks(made)
    folder, seeds = made[0].folder, [request.seed for request in made if request.twin == twins[0]]
    failed, diverged = {}, []
    # one comparison of a folder at a time: no mixed results. Each child inherits the locked file,
    # so the lock holds until the last of them ends, even if this process is killed first.
    with exclusive_lock(folder / ".lock") as lock:
        for request in made:
            seed, twin = request.seed, request.twin
            # each run in its own process: its own peak memory, and a crash stays its own
            command = [sys.executable, "-m", "harness", "train", "--task", args.task,
                       "--twin", request.twin_source or twin,
                       "--config", str(request.config_file), "--seed", str(seed)]
            command += ["--epochs", str(args.epochs)] if args.epochs else []
            command += ["--data-dir", str(args.data_dir)] if args.data_dir else []
            flags = (("--quick", args.quick), ("--no-progress", args.no_progress), ("--resume", args.resume))
            command += [flag for flag, on in flags if on]
            child = subprocess.Popen(command, env={**os.environ, LOCK_HELD: str(folder), **child_environment()},
                                     pass_fds=(lock.fileno(),))
            try:
                code = child.wait()
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the child stops after its last checkpoint
                stop(child)
                print(interrupted(folder, twin, seed), file=sys.stderr)
                return 130
            if code == 2:  # bad input: the other runs would fail the same way
                return 2
            if code == 3:
                diverged.append(f"{twin} seed {seed}")
            elif code != 0:
                failed[request] = exit_reason(code)
        failures = {(request.twin, request.seed): why for request, why in failed.items()}
        for written in write_comparison(folder, made[0].settings_digest, seeds, failures):
            print(f"wrote {written}")
    for request, why in failed.items():
        print(f"error: the {request.twin} run of seed {request.seed} failed: {why}; {rerun_hint(request)}",
              file=sys.stderr)
    for name in diverged:
        print(f"error: the {name} run diverged (see its JSON and the table)", file=sys.stderr)
    return 1 if failed or diverged else 0
