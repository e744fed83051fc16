"""One `make bench` process: one contender's training steps on one case, timed, with its memory, its threads
and its library's cell primitives at the case's shape (cell_costs.py).

Run as `python -m harness.studies.bench_worker CASE TWIN REPEATS STEPS` (TWIN "gemm": the machine's
float32 GEMM throughput instead), or `python -m harness.studies.bench_worker --epoch CONFIG TWIN` for one
training epoch of configs/CONFIG.yaml on its real data; it imports one twin only, and its last line printed
is its report's JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Optional

import numpy as np

from twin_contract import State

from ..paths import CONFIG_DIR
from ..provenance import environment, peak_rss_mb
from ..recipe.config import load_config
from ..recipe.tasks import prepare_task
from ..training.loop import plateau_schedule, train_epoch
from ..twins import LIBRARIES, MODULES, load
from . import step_profile
from .bench import bench_cases, bench_inputs
from .cell_costs import cell_costs, lstm_ops
from .synthetic import Case


def gemm_gflops(size: int = 1024, repeats: int = 10) -> float:
    """The machine's float32 GEMM throughput (best of repeats), GFLOP/s."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = min(_timed(lambda: np.matmul(a, a, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_twin(case: Case, twin, warmup: int = 3, repeats: int = 5, steps: int = 5, profile: bool = False,
              library: Optional[str] = None) -> dict:
    """One twin's training steps on the case: {"seconds_per_step": [one per repeat], "tokens_per_batch"},
    with `profile` (the NumPy twin) "profile": step_profile.profile_step of `steps` more steps, and for the
    twin's `library` (twins.LIBRARIES) "lstm_ops": the LSTM kernels one more step ran, where it can tell.

    Two fixed batches alternate; the language model carries its state from step to step.
    """
    weights, batches = bench_inputs(case)
    model = twin.build_model(case.spec, weights, "float32")
    state = None

    def run(count: int) -> None:
        nonlocal state
        for k in range(count):
            result = twin.train_step(model, batches[k % 2], 0.1, 5.0, state)
            if not np.isfinite(result.loss):
                raise RuntimeError(f"{twin.NAME} twin: loss is {result.loss} on {case.name}: "
                                   "a fast wrong model is no result")
            state = State(*result.state) if case.carries_state else None

    run(warmup)
    seconds = [_timed(lambda: run(steps)) / steps for _ in range(repeats)]
    timing = {"seconds_per_step": seconds, "tokens_per_batch": statistics.fmean(case.tokens(b) for b in batches)}
    if profile:
        timing["profile"] = step_profile.profile_step(case, run, steps)
    ops = lstm_ops(library, run)
    if ops is not None:
        timing["lstm_ops"] = ops
    return timing


def measure(name: str, twin_name: str, repeats: int, steps: int) -> dict:
    """What one bench process reports: its twin's speed on the named case, its peak memory, its threads."""
    if twin_name == "gemm":
        return {"gemm_gflops": gemm_gflops(), "threads": environment()["threads"]}
    case = next(c for c in bench_cases() if c.name == name)
    library = LIBRARIES.get(twin_name)  # an outside twin's: None
    timing = time_twin(case, load(twin_name), repeats=repeats, steps=steps, profile=twin_name == "numpy",
                       library=library)
    step = statistics.median(timing["seconds_per_step"])
    costs = cell_costs(library, case.batch_size, case.spec.hidden_size)
    return {"samples_per_second": case.batch_size / step, "tokens_per_second": timing["tokens_per_batch"] / step,
            "peak_rss_mib": peak_rss_mb(), **{key: timing[key] for key in ("profile", "lstm_ops") if key in timing},
            **({"cell_costs": costs} if costs else {}),
            "twins_loaded": sorted(name for name in MODULES.values() if name in sys.modules),
            **{k: v for k, v in environment().items() if k in ("threads", "versions")}}


def measure_epoch(config_name: str, twin_name: str) -> dict:
    """The first training epoch of configs/<config_name>.yaml by one twin on the config's data, as `train` runs
    it (its batches, dropout masks, learning rate; no evaluation after it): its seconds, memory and threads."""
    config = load_config(CONFIG_DIR / f"{config_name}.yaml")
    task = prepare_task(config)
    twin = load(twin_name)
    model = twin.build_model(task.spec, task.weights, config["training"]["dtype"])
    record = train_epoch(twin, model, task, config, plateau_schedule(config["training"], []), 0, 1, progress=False)
    return {"epoch_seconds": record["seconds"], "samples_per_second": record["samples_per_second"],
            "peak_rss_mib": peak_rss_mb(),
            "twins_loaded": sorted(name for name in MODULES.values() if name in sys.modules),
            **{k: v for k, v in environment().items() if k in ("threads", "versions")}}


if __name__ == "__main__":  # python -m harness.studies.bench_worker CASE TWIN REPEATS STEPS | --epoch CONFIG TWIN
    if sys.argv[1] == "--epoch":
        print(json.dumps(measure_epoch(*sys.argv[2:4])))
    else:
        case_name, twin_name, repeats_text, steps_text = sys.argv[1:5]
        print(json.dumps(measure(case_name, twin_name, int(repeats_text), int(steps_text))))
