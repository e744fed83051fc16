"""Sweeps: every (config, seed, twin) run of a cross product, executed by a pool, locally or on a Ray cluster.

One run is one request (`training.request.RunRequest`, resolved once here), and every backend
executes it the same way (`launch`): a fresh Python process (`python -m harness.studies.sweep_worker
REQUEST`), its BLAS, NumPy-twin and TensorFlow threads pinned by environment variables before
anything loads, which trains the run (writing its checkpoints) and hands its record back on stdout.
Only the driver writes results: each record atomically into the usual results/<config>/<twin>-seed<N>.json
when it arrives, so a lost worker can never leave half a file. Backends:

- `--jobs N` (default 1, one run after another): N runs at a time on this machine;
- `--ray ADDRESS`: Ray tasks on the cluster at ADDRESS (`--ray local` starts Ray here), each
  asking for --threads-per-run CPUs. The nodes need the project installed (`pip install .`),
  the data in $LSTM_TWINS_DATA, and, for --resume, the results folder shared with the driver.

A run that fails, or whose worker dies, is reported by name and the others go on; the sweep
exits 1 at the end when any run failed or diverged, after a summary table. The command line then
rebuilds the comparison pages (and the README, for the project's own configs) from what completed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterator, Optional

from tqdm import tqdm

from ..atomic_files import check_writable, exclusive_lock, write_json_atomic
from ..errors import BadInput
from ..paths import PROJECT_ROOT
from ..provenance import THREAD_VARIABLES, environment
from ..recipe.config import load_config
from ..stopping import child_environment, stop, stop_on_signals
from ..training.request import RunRequest, run_request
from ..training.run import earlier_run

OUTCOMES = ("done", "resumed", "skipped", "diverged", "failed")  # skipped: complete before the sweep (--resume)
RAY_ADDRESS = re.compile(r"local|auto|(ray://)?[\w.-]+:\d+|(ray://)?\[[0-9a-fA-F:]+\]:\d+")
RAY_MISSING = "Ray is not installed; install the optional extra: .venv/bin/pip install -e '.[ray]'"


class SweepError(BadInput):
    """A sweep that cannot start; the message says what to do."""


def plan(config_files: list[Path], seeds: Optional[list[int]], twins: list[str], epochs: Optional[int],
         quick: bool, resume: bool, data_dir: Optional[Path], threads: int) -> list[RunRequest]:
    """The cross product: each config × each seed (default: the config's own) × each twin, one request each."""
    requests, seen = [], set()
    for path in config_files:
        path = Path(path).resolve()
        config = load_config(path)
        for seed in seeds or [config["seed"]]:
            for twin in twins:
                if (path, seed, twin) not in seen:  # a config named twice runs once
                    seen.add((path, seed, twin))
                    requests.append(run_request(path, config, twin, seed=seed, epochs=epochs, quick=quick,
                                                resume=resume, data_dir=data_dir, threads=threads))
    return requests


def thread_environment(threads: int) -> dict[str, str]:
    """The variables that hold BLAS, the NumPy twin and TensorFlow to `threads` threads each."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def worker_command(request: RunRequest) -> list[str]:
    """The command that trains one request in a fresh process and prints its result's JSON last."""
    return [sys.executable, "-m", "harness.studies.sweep_worker", json.dumps(request.to_json())]


_workers: set[subprocess.Popen] = set()  # this process's running workers: told to stop when it stops


def launch(request: RunRequest) -> dict:
    """Train one request in its own process, which ends with this one: {"record", "resumed_after"} or {"error"}
    (never raises but on an interrupt)."""
    started = time.perf_counter()
    env = {**os.environ, **thread_environment(request.threads), **child_environment()}
    worker = subprocess.Popen(worker_command(request), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # in this process's folder: a relative path in a variable means the same
    _workers.add(worker)
    try:
        stdout, stderr = worker.communicate()
    finally:
        _workers.discard(worker)
    seconds = time.perf_counter() - started
    if worker.returncode != 0:
        errors = [line for line in stderr.strip().splitlines() if line.strip()]
        why = exit_reason(worker.returncode) + (f": {errors[-1]}" if errors else "")
        return {"error": why, "seconds": seconds}
    try:
        return {**json.loads(stdout.strip().splitlines()[-1]), "seconds": seconds}
    except (ValueError, IndexError):
        return {"error": "the worker printed no result", "seconds": seconds}


# --- backends: each called with the requests, yielding (request, result) as runs end ---------------------

class LocalPool:
    """`jobs` runs at a time on this machine (each its own process, started by a thread of the driver)."""

    def __init__(self, jobs: int):
        self.slots, self.name = jobs, f"--jobs {jobs}"

    def __call__(self, todo: list[RunRequest]) -> Iterator[tuple[RunRequest, dict]]:
        pool = ThreadPoolExecutor(max_workers=self.slots)
        try:
            pending = {pool.submit(launch, request): request for request in todo}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield pending.pop(future), future.result()
        finally:  # on Ctrl-C or SIGTERM: no new run starts; those running stop after their last checkpoint
            stop(*list(_workers))
            pool.shutdown(wait=True, cancel_futures=True)


class RayPool:
    """Ray tasks on the cluster at `address` ("local": Ray started on this machine), each `launch`."""

    slots = None  # Ray decides how many run at once

    def __init__(self, address: str):
        if not RAY_ADDRESS.fullmatch(address):
            raise SweepError(f"--ray {address!r} is not a Ray address; give 'local' (Ray started here), 'auto' "
                             "(the cluster started on this machine) or the head's HOST:PORT (or ray://HOST:PORT)")
        try:
            import ray  # an optional extra, heavy: imported only for a sweep on Ray
        except ImportError:
            raise SweepError(RAY_MISSING) from None
        self.ray, self.address, self.name = ray, address, f"--ray {address}"
        self._connect()  # before any work: a cluster that refuses this driver is one line, nothing written

    def _connect(self) -> None:
        ray = self.ray
        if self.address == "local":  # always a new instance, whatever cluster this machine ran before
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            try:
                ray.init(address=self.address, log_to_driver=False, runtime_env={
                    "working_dir": str(PROJECT_ROOT), "excludes": ["/results", "/data", "/cache", "/.venv", "/.git"]})
            except (ConnectionError, TimeoutError, RuntimeError) as error:
                why = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise SweepError(f"cannot connect to the Ray cluster at {self.address} ({why}); check the address, "
                                 "and if its head was started with token authentication (`ray start --head` turns "
                                 "it on in Ray 2.60), set RAY_AUTH_MODE=token in this shell too") from None
        stop_on_signals()  # ray.init replaced the SIGTERM handler

    def __call__(self, todo: list[RunRequest]) -> Iterator[tuple[RunRequest, dict]]:
        ray = self.ray
        try:
            task = ray.remote(launch)
            pending = {task.options(num_cpus=request.threads).remote(request): request for request in todo}
            while pending:
                finished, _ = ray.wait(list(pending), num_returns=1)
                request = pending.pop(finished[0])
                try:
                    result = ray.get(finished[0])
                except ray.exceptions.RayError as error:  # the Ray worker itself died or was lost
                    result = {"error": f"the Ray task failed: {str(error).strip().splitlines()[0]}"}
                yield request, result
        finally:
            ray.shutdown()


# --- the driver ---------------------------------------------------------------------------------------

def sweep(requests: list[RunRequest], execute, progress: bool = True,
          then: Optional[Callable[[list[dict]], None]] = None) -> list[dict]:
    """Run the requests with the backend `execute` (LocalPool or RayPool), writing each record as it arrives;
    one summary row per request, in order. then(rows), when given, runs while the folders are still locked
    (the command line rebuilds the pages there).

    Raises RunConflict (or LockedError) before any run starts when a run's JSON holds a run of other
    settings (or another comparison holds its folder).
    """
    earlier = {request: earlier_run(request) for request in requests}  # complete records kept by --resume
    for folder in {request.folder for request in requests}:
        check_writable(folder)
    rows, todo = {}, []
    for request in requests:
        if earlier[request] is not None:
            rows[request] = _row(request, "skipped", note=f"complete in {request.output.name}")
        else:
            todo.append(request)
    bar = tqdm(total=len(requests), desc="sweep", unit="run", disable=None if progress else True,
                initial=len(rows))  # None: no bar unless a terminal
    with ExitStack() as locks:
        for folder in sorted({request.folder for request in todo}):  # one writer per folder
            locks.enter_context(exclusive_lock(folder / ".lock"))
        bar.set_postfix(_counts(rows, _running(execute, len(todo))))
        for request, result in execute(todo):
            if "error" in result:
                rows[request] = _row(request, "failed", result.get("seconds"), result["error"])
            else:
                record = result["record"]
                write_json_atomic(request.output, record)
                outcome = ("diverged" if record["status"] != "complete" else
                           "resumed" if result.get("resumed_after") else "done")
                note = f"from epoch {result['resumed_after']}" if outcome == "resumed" else record.get("message", "")
                rows[request] = _row(request, outcome, result.get("seconds"), note)
            bar.update(1)
            bar.set_postfix(_counts(rows, _running(execute, len(requests) - len(rows))))
            if progress:
                note = rows[request]["note"]
                bar.write(f"{rows[request]['outcome']}: {request.label}" + (f" ({note})" if note else ""))
        ordered = [rows[request] for request in requests]
        if then is not None:
            then(ordered)
    bar.close()
    return ordered


def _row(request: RunRequest, outcome: str, seconds: Optional[float] = None, note: str = "") -> dict:
    return {"config": request.config_file.stem, "seed": request.seed, "twin": request.twin, "outcome": outcome,
            "threads": request.threads, "minutes": None if seconds is None else round(seconds / 60, 1), "note": note}


def _running(execute, left: int):
    """Runs under way: all those left up to the pool's slots; for Ray, which schedules them, "≤ left"."""
    return min(left, execute.slots) if execute.slots else f"≤{left}"


def _counts(rows: dict, running) -> dict:
    outcomes = [row["outcome"] for row in rows.values()]
    return {"done": sum(o in ("done", "resumed", "skipped") for o in outcomes), "running": running,
            "failed": sum(o in ("failed", "diverged") for o in outcomes)}


def sweep_report(rows: list[dict], seconds: float, pool, requests: list[RunRequest]) -> dict:
    """What a sweep did, JSON-ready: the pool, threads per run, wall time, outcome counts, one row per run,
    and the commit and machine it ran on."""
    machine = environment()
    return {"pool": pool.name, "threads_per_run": sorted({request.threads for request in requests}),
            "quick": sorted({request.quick for request in requests}) == [True], "wall_seconds": seconds,
            "outcomes": {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES}, "runs": rows,
            "date": time.strftime("%Y-%m-%d"), "git_commit": machine["git_commit"], "machine": machine["machine"]}


def exit_reason(code: int) -> str:
    """A child process's return code in words: "killed by SIGKILL", "exited with status 1"."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"
