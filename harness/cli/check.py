"""`check TWIN`: the verdict on any implementation of the twin contract (studies/check.py), with an optional
quick training comparison (`--train TASK`: `compare --quick` in a process of its own) and bench rows
(`--bench`); exit 0 pass, 1 fail, 2 bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from ..atomic_files import check_writable, write_json_atomic, write_text_atomic
from ..errors import BadInput
from ..recipe.config import config_path, effective_config, load_config, settings_digest
from ..recipe.tasks import TASKS
from ..reports.check_page import check_markdown
from ..reports.comparison import agreement, load_comparison
from ..studies.bench import run_bench
from ..studies.check import FAIL, MEASURED, NOT_RUN, PASS, row, run_check, verdict_of
from ..training.request import config_folder
from ..twins import NAMES, REFERENCE, check_available, find, label, load, resolve, source
from .options import TWIN_HELP, positive

# a quick run's test figure beside the reference's: accuracy points, or % of the reference's perplexity
TRAINING_GAP = {"accuracy": 0.5, "perplexity": 2.0}


def add_check(commands) -> None:
    sub = commands.add_parser("check", help="judge any implementation of the twin contract against a reference twin")
    sub.add_argument("twin", help=TWIN_HELP)
    sub.add_argument("--against", choices=NAMES, default=None,
                     help=f"the reference twin (default {REFERENCE}; numpy when checking {REFERENCE} itself)")
    sub.add_argument("--dtype", choices=("float32", "float64"), default=None,
                     help="the contract and parity cases in this dtype only (default both)")
    sub.add_argument("--updates", type=positive, default=100, help="SGD steps of the trajectory (default 100)")
    sub.add_argument("--train", choices=tuple(TASKS), default=None,
                     help="also a quick comparison on this task beside the reference (in results/quick/)")
    sub.add_argument("--bench", action="store_true",
                     help="also time it on every bench shape beside the reference and the NumPy twin")
    sub.add_argument("--out", type=Path, default=None, help="also write the verdict here as JSON (and .md beside it)")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.set_defaults(handler=check)


def check(args) -> int:
    against = args.against or ("numpy" if args.twin == REFERENCE else REFERENCE)
    if args.twin == against:
        raise BadInput(f"check {args.twin} --against {against}: a twin is not judged against itself")
    if args.out is not None:
        if args.out.suffix != ".json" or args.out.is_dir():
            raise BadInput(f"--out {args.out}: expected a file name ending in .json, as verdict.json")
        check_writable(args.out.parent)
    if args.train or args.bench:  # they run beside the reference: it must be there (parity says "not run")
        check_available([against])
    candidate = load(args.twin) if args.twin in NAMES else find(args.twin)[1]  # the contract is judged, not assumed
    dtypes = (args.dtype,) if args.dtype else ("float64", "float32")
    with tqdm(desc="check", unit="row", disable=True if args.no_progress else None) as bar:  # None: a terminal's

        def advance(_, total: int) -> None:
            bar.total = total
            bar.update(1)

        verdict = {"source": args.twin, **run_check(candidate, against, dtypes, args.updates, progress=advance)}
    kept = not any(r["case"] == "interface" and r["result"] == FAIL for r in verdict["rows"])
    why = "the contract fails"
    if args.train:
        verdict["rows"].append(_training_row(args.train, args.twin, against) if kept else
                               row("training", args.train, NOT_RUN, why))
    if args.bench:
        verdict["rows"] += _bench_rows(args.twin, against, progress=not args.no_progress) if kept else [
            row("bench", "every shape", NOT_RUN, why, "float32")]
    verdict["verdict"] = verdict_of(verdict["rows"])
    page = check_markdown(verdict)
    if args.out is not None:
        write_json_atomic(args.out, verdict)
        write_text_atomic(args.out.with_suffix(".md"), page)
    print(page)
    return 0 if verdict["verdict"] == "pass" else 1


def _training_row(task: str, text: str, against: str) -> dict:
    """`compare --quick` of the candidate and the reference on the task, in its own process: the gap of
    their test figures."""
    name = resolve(text)
    path = config_path(task)
    config = effective_config(load_config(path), None, True)
    command = [sys.executable, "-m", "harness", "compare", "--task", task, "--config", str(path), "--quick",
               "--no-progress", "--twins", source(name) or name, against]
    done = subprocess.run(command, capture_output=True, text=True)
    comparison = load_comparison(config_folder(path, config, True), settings_digest(config, True))
    rows = agreement(comparison, name, against)
    case, dtype = f"{task} (quick)", config["training"]["dtype"]
    if not rows:
        said = done.stderr.strip().splitlines()
        return row("training", case, FAIL, f"compare --quick exited {done.returncode}: "
                                           f"{said[-1] if said else 'no message'}", dtype)
    metric = comparison.runs[0]["metric"]
    seed = rows[0]
    scale, unit = (1, "") if metric == "perplexity" else (100, " %")
    gap, limit = seed["gap"], TRAINING_GAP[metric]
    return row("training", case, PASS if gap <= limit else FAIL,
               f"test {metric} {scale * seed[name]:.2f}{unit} vs {label(against)} {scale * seed[against]:.2f}{unit}: "
               f"gap {gap:.2f} {'%' if metric == 'perplexity' else 'points'} (≤ {limit})", dtype)


def _bench_rows(text: str, against: str, progress: bool) -> list[dict]:
    """Every bench shape, 3 rounds of fresh processes: the candidate's samples/s against the reference's."""
    name = resolve(text)
    report = run_bench(tuple(TASKS), rounds=3, twins={"numpy", name, against}, progress=progress)
    rows = []
    for shape, timed in report["tasks"].items():
        mine, theirs = timed[name]["samples_per_second"], timed[against]["samples_per_second"]
        rows.append(row("bench", shape, MEASURED, f"{mine:,.0f} samples/s, {label(against)} {theirs:,.0f}: "
                                                  f"{mine / theirs:.2f}×", "float32"))
    return rows
