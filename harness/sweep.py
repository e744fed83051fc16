"""Sweeps: every (config, seed, twin) run of a cross product, executed by a pool, locally or on a Ray cluster.

One run is one unit of work (`Unit`), and every backend executes it the same way (`run_unit`):
a fresh Python process (`python -m harness.sweep UNIT`), its BLAS, NumPy-twin and TensorFlow
threads pinned by environment variables before anything loads, which trains the run (writing
its checkpoints) and hands its record back on stdout. Only the driver writes results: each
record atomically into the usual results/<config>/<twin>-seed<N>.json when it arrives, so a
lost worker can never leave half a file. Backends:

- `--jobs N` (default 1, one run after another): N runs at a time on this machine;
- `--ray ADDRESS`: Ray tasks on the cluster at ADDRESS (`--ray local` starts Ray here), each
  asking for --threads-per-run CPUs. The nodes need the project installed (`pip install .`),
  the data in $LSTM_TWINS_DATA, and, for --resume, the results folder shared with the driver.

A run that fails, or whose worker dies, is reported by name and the others go on; the sweep
exits 1 at the end when any run failed or diverged, after a summary table. The comparison
pages (and the README, for the project's own configs) are rebuilt from what completed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

from .paths import PROJECT_ROOT
from .provenance import THREAD_VARIABLES

OUTCOMES = ("done", "resumed", "skipped", "diverged", "failed")  # skipped: complete before the sweep (--resume)
RAY_MISSING = "Ray is not installed; install the optional extra: .venv/bin/pip install -e '.[ray]'"


@dataclass(frozen=True)
class Unit:
    """One run of the sweep, all a worker needs to train it (JSON-ready)."""

    config_file: str  # absolute path
    seed: int
    twin: str
    epochs: Optional[int]  # None: the config's (quick: the quick section's)
    quick: bool
    resume: bool
    data_dir: Optional[str]
    threads: int

    @property
    def label(self) -> str:
        return f"{Path(self.config_file).stem} seed {self.seed} {self.twin}"


def units(config_files: list[Path], seeds: Optional[list[int]], twins: list[str], epochs: Optional[int],
          quick: bool, resume: bool, data_dir: Optional[Path], threads: int) -> list[Unit]:
    """The cross product: each config × each seed (default: the config's own) × each twin."""
    from .config import load_config

    plan = []
    for path in config_files:
        for seed in seeds or [load_config(path)["seed"]]:
            plan += [Unit(str(Path(path).resolve()), seed, twin, epochs, quick, resume,
                          None if data_dir is None else str(data_dir), threads) for twin in twins]
    return list(dict.fromkeys(plan))  # a config named twice runs once


def thread_environment(threads: int) -> dict[str, str]:
    """The variables that hold BLAS, the NumPy twin and TensorFlow to `threads` threads each."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def worker_command(unit: Unit) -> list[str]:
    """The command that trains one unit in a fresh process and prints its result's JSON last."""
    return [sys.executable, "-m", "harness.sweep", json.dumps(asdict(unit))]


def run_unit(unit: Unit) -> dict:
    """Train one unit in its own process: {"record", "resumed_after"} or {"error"} (never raises)."""
    started = time.perf_counter()
    done = subprocess.run(worker_command(unit), env={**os.environ, **thread_environment(unit.threads)},
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = exit_reason(done.returncode) + (f": {errors[-1]}" if errors else "")
        return {"error": why, "seconds": seconds}
    try:
        return {**json.loads(done.stdout.strip().splitlines()[-1]), "seconds": seconds}
    except (ValueError, IndexError):
        return {"error": "the worker printed no result", "seconds": seconds}


def work(unit: Unit) -> dict:
    """In the worker process: train the unit, writing its checkpoints but not its JSON; its record."""
    from .config import effective_config, load_config
    from .paths import checkpoint_folder, results_folder
    from .run import execute_run

    path = Path(unit.config_file)
    config = {**load_config(path), "seed": unit.seed}
    folder = results_folder(path, effective_config(config, unit.epochs, unit.quick), unit.quick)
    latest = checkpoint_folder(folder, unit.twin, unit.seed) / "latest.json"
    resumed_after = _epoch_of(latest) if unit.resume else None
    _, record, _ = execute_run(unit.twin, config, path, unit.epochs, unit.quick,
                               None if unit.data_dir is None else Path(unit.data_dir), False, unit.resume)
    return {"record": record, "resumed_after": resumed_after}


# --- backends: each called with the units, yielding (unit, result) as runs end ---------------------------

class LocalPool:
    """`jobs` runs at a time on this machine (each its own process, started by a thread of the driver)."""

    def __init__(self, jobs: int):
        self.slots, self.name = jobs, f"--jobs {jobs}"

    def __call__(self, todo: list[Unit]) -> Iterator[tuple[Unit, dict]]:
        pool = ThreadPoolExecutor(max_workers=self.slots)
        try:
            pending = {pool.submit(run_unit, unit): unit for unit in todo}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield pending.pop(future), future.result()
        finally:  # on Ctrl-C: no new run starts; those running got it too and stop after their checkpoint
            pool.shutdown(wait=True, cancel_futures=True)


class RayPool:
    """Ray tasks on the cluster at `address` ("local": Ray started on this machine), each run_unit."""

    slots = None  # Ray decides how many run at once

    def __init__(self, address: str):
        try:
            import ray
        except ImportError:
            raise SweepError(RAY_MISSING) from None
        self.ray, self.address, self.name = ray, address, f"--ray {address}"

    def __call__(self, todo: list[Unit]) -> Iterator[tuple[Unit, dict]]:
        ray = self.ray
        if self.address == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=self.address, log_to_driver=False, runtime_env={
                "working_dir": str(PROJECT_ROOT), "excludes": ["/results", "/data", "/cache", "/.venv", "/.git"]})
        try:
            task = ray.remote(run_unit)
            pending = {task.options(num_cpus=unit.threads).remote(unit): unit for unit in todo}
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(finished[0])
                try:
                    result = ray.get(finished[0])
                except ray.exceptions.RayError as error:  # the Ray worker itself died or was lost
                    result = {"error": f"the Ray task failed: {str(error).strip().splitlines()[0]}"}
                yield unit, result
        finally:
            ray.shutdown()


class SweepError(Exception):
    """A sweep that cannot start; the message says what to do."""


# --- the driver ---------------------------------------------------------------------------------------

def sweep(plan: list[Unit], execute, progress: bool = True) -> list[dict]:
    """Run the plan with the backend `execute` (LocalPool or RayPool), writing each record as it arrives;
    one summary row per unit.

    Raises RunConflict (or LockedError) before any run starts when a run's JSON holds a run of other
    settings (or another comparison holds its folder).
    """
    from tqdm import tqdm

    from .atomic_files import check_writable, exclusive_lock, write_json_atomic

    targets = {unit: _target(unit) for unit in plan}  # (output, config, earlier complete record or None)
    for folder in {output.parent for output, _, _ in targets.values()}:
        check_writable(folder)
    rows, todo = {}, []
    for unit in plan:
        output, _, earlier = targets[unit]
        if earlier is not None:
            rows[unit] = _row(unit, "skipped", note=f"complete in {output.name}")
        else:
            todo.append(unit)
    bar = tqdm(total=len(plan), desc="sweep", unit="run", disable=not progress, initial=len(rows))
    with ExitStack() as locks:
        for folder in sorted({targets[unit][0].parent for unit in todo}):  # one writer per folder
            locks.enter_context(exclusive_lock(folder / ".lock"))
        bar.set_postfix(_counts(rows, _running(execute, len(todo))))
        for unit, result in execute(todo):
            if "error" in result:
                rows[unit] = _row(unit, "failed", result.get("seconds"), result["error"])
            else:
                record = result["record"]
                write_json_atomic(targets[unit][0], record)
                outcome = ("diverged" if record["status"] != "complete" else
                           "resumed" if result.get("resumed_after") else "done")
                note = f"from epoch {result['resumed_after']}" if outcome == "resumed" else record.get("message", "")
                rows[unit] = _row(unit, outcome, result.get("seconds"), note)
            bar.update(1)
            bar.set_postfix(_counts(rows, _running(execute, len(plan) - len(rows))))
            if progress:
                note = rows[unit]["note"]
                bar.write(f"{rows[unit]['outcome']}: {unit.label}" + (f" ({note})" if note else ""))
        _rebuild_tables(plan, targets, rows)
    bar.close()
    return [rows[unit] for unit in plan]


def _target(unit: Unit):
    from .config import effective_config, load_config
    from .paths import results_folder, run_file
    from .run import earlier_run

    config = effective_config({**load_config(unit.config_file), "seed": unit.seed}, unit.epochs, unit.quick)
    output = run_file(results_folder(unit.config_file, config, unit.quick), unit.twin, unit.seed)
    return output, config, earlier_run(output, config, unit.quick, unit.resume)


def _rebuild_tables(plan: list[Unit], targets: dict, rows: dict) -> None:
    """Each folder's comparison page from what completed (failed runs named); the README when a project
    config's own runs changed."""
    from .config import settings_digest
    from .paths import CONFIG_DIR
    from .readme import update_readme
    from .results import write_comparison

    folders = {}
    for unit in plan:
        output, config, _ = targets[unit]
        entry = folders.setdefault(output.parent, (settings_digest(config, unit.quick), set(), {}))
        entry[1].add(unit.seed)
        if rows[unit]["outcome"] == "failed":
            entry[2][(unit.twin, unit.seed)] = rows[unit]["note"]
    for folder, (digest, seeds, failed) in folders.items():
        write_comparison(folder, digest, sorted(seeds), failed)
    changed = [u for u in plan if rows[u]["outcome"] in ("done", "resumed", "diverged")]
    if any(not u.quick and Path(u.config_file).parent == CONFIG_DIR.resolve() for u in changed):
        update_readme()


def _row(unit: Unit, outcome: str, seconds: Optional[float] = None, note: str = "") -> dict:
    return {"config": Path(unit.config_file).stem, "seed": unit.seed, "twin": unit.twin, "outcome": outcome,
            "threads": unit.threads, "minutes": None if seconds is None else round(seconds / 60, 1), "note": note}


def _running(execute, left: int):
    """Runs under way: all those left up to the pool's slots; for Ray, which schedules them, "≤ left"."""
    return min(left, execute.slots) if execute.slots else f"≤{left}"


def _counts(rows: dict, running) -> dict:
    outcomes = [row["outcome"] for row in rows.values()]
    return {"done": sum(o in ("done", "resumed", "skipped") for o in outcomes), "running": running,
            "failed": sum(o in ("failed", "diverged") for o in outcomes)}


def sweep_report(rows: list[dict], seconds: float, pool, plan: list[Unit]) -> dict:
    """What a sweep did, JSON-ready: the pool, threads per run, wall time, outcome counts, one row per run,
    and the commit and machine it ran on."""
    from .provenance import environment

    machine = environment()
    return {"pool": pool.name, "threads_per_run": sorted({unit.threads for unit in plan}),
            "quick": sorted({unit.quick for unit in plan}) == [True], "wall_seconds": seconds,
            "outcomes": {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES}, "runs": rows,
            "date": time.strftime("%Y-%m-%d"), "git_commit": machine["git_commit"], "machine": machine["machine"]}


def summary(report: dict) -> str:
    """The sweep in words and a table: the count per outcome, the wall time, one row per run."""
    from .markdown import table

    counts = ", ".join(f"{n} {o}" for o, n in report["outcomes"].items())
    cells = [{k: "—" if v is None else str(v) for k, v in row.items()} for row in report["runs"]]
    return (f"sweep: {len(report['runs'])} runs: {counts}; wall time {report['wall_seconds'] / 60:.1f} min "
            f"({report['pool']}, threads per run {'/'.join(map(str, report['threads_per_run']))})\n\n{table(cells)}")


def sweeps_table(reports: dict[str, dict]) -> str:
    """Sweep reports (name -> report) as one Markdown table: runs, outcomes, pool, threads, wall time."""
    from .markdown import table

    return table([{"sweep": f"`{name}`", "runs": str(len(r["runs"])),
                   "outcomes": ", ".join(f"{n} {o}" for o, n in r["outcomes"].items() if n),
                   "pool": f"`{r['pool']}`", "threads per run": "/".join(map(str, r["threads_per_run"])),
                   "wall time": f"{r['wall_seconds'] / 60:.1f} min", "commit": r["git_commit"], "date": r["date"]}
                  for name, r in reports.items()])


def _epoch_of(latest: Path) -> Optional[int]:
    try:
        return json.loads(latest.read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError):
        return None


def exit_reason(code: int) -> str:
    """A child process's return code in words: "killed by SIGKILL", "exited with status 1"."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


if __name__ == "__main__":  # one worker: python -m harness.sweep UNIT_JSON
    from .checkpoints import CheckpointError
    from .data.locations import DataMissingError
    from .run import RunConflict

    try:
        print(json.dumps(work(Unit(**json.loads(sys.argv[1])))))
    except (DataMissingError, CheckpointError, RunConflict) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
