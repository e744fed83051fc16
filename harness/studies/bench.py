"""`make bench`: training-step throughput of each twin, each in its own fresh process, per task shape.

For each task the model shape and batch size come from configs/<task>.yaml; the
batches are fixed synthetic ones of the real shapes (token ids, padding masks,
carried state for the language model). Two numerical libraries in one process
fight over the cores (OpenBLAS's threads spin after each call, TensorFlow keeps
pools of its own), so every measurement is a fresh process that imports one twin
only: it warms up, times a few repeats of a few steps, and reports the median.
Processes alternate the twins (NumPy, PyTorch, TensorFlow, NumPy, ...) for several
rounds, so every twin sees the same machine noise; each twin's figure is the median
over rounds (with min–max), the headline the NumPy twin's ratio of the medians to
each other twin's. Each process also reports
its peak memory and its thread settings. For the NumPy twin, GFLOP/s are counted
from the matmul sizes and compared with the float32 GEMM throughput, measured in
a process of its own in the same run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np

from twin_contract import Batch, Feature

from ..errors import BadInput
from ..paths import CONFIG_DIR
from ..provenance import environment
from ..recipe.config import load_config
from ..recipe.tasks import TASKS, model_spec, prepare_task
from ..twins import NAMES, available, check_available, label, ordered, source
from . import step_profile
from .synthetic import Case, random_batch, random_weights

class BenchError(BadInput, ValueError):
    """A bench that cannot start; the message says what to do."""


# The LSTM family's shapes, for the results at the field's level: (name, config, model changes).
FAMILY = (
    ("ptb_pos, bidirectional 2 layers", "ptb_pos_strong", {"layers": 2, "bidirectional": True}),
    ("ptb_lm, 2 layers, dropout", "ptb_lm_strong", {"layers": 2, "dropout": 0.5}),
)
# The field-level configs users run, as they are, with the sizes their data gives that the task's bench shape
# does not (PTB POS with 50,000 GloVe words: 50,358 words, 8 word shapes and 1,473 suffixes).
FIELD = {"mnist_bilstm": {}, "imdb_bilstm_tail": {},
         "ptb_pos_bilstm": {"vocab_size": 50358, "features": (Feature("shape", 8, 16), Feature("suffix", 1473, 16))},
         "ptb_lm_tied": {}}


def bench_cases() -> list[Case]:
    """One case per task, the registry's synthetic shape at the model size and batch of configs/<task>.yaml,
    then the FAMILY's, then the FIELD configs' (named by their config)."""
    chosen = ([(task.name, task.name, {}, {}) for task in TASKS.values()]
              + [(name, config, changes, {}) for name, config, changes in FAMILY]
              + [(config, config, {}, sizes) for config, sizes in FIELD.items()])
    cases = []
    for name, config_name, changes, sizes in chosen:
        config = load_config(CONFIG_DIR / f"{config_name}.yaml")
        config = {**config, "model": {**config["model"], **changes}}
        task = TASKS[config["task"]]
        shape = task.bench
        # MNIST's rows of 28 pixels, else the embedding
        spec = model_spec(config, 28 if shape.vocab_size is None else config["model"]["embedding_size"],
                          shape.num_classes, shape.vocab_size)
        spec = replace(spec, **sizes)
        steps = config["data"].get("max_len") or shape.num_steps or config["data"]["num_steps"]  # IMDB: max_len
        cases.append(Case(name, task.name, spec, config["training"]["batch_size"], steps,
                          config["data"].get("padding"), task.carries_state, config["model"]["dropout"]))
    return cases


def bench_inputs(case: Case) -> tuple[dict[str, np.ndarray], list[Batch]]:
    """The case's float32 weights (canonical layout) and its two batches, the same in every process."""
    rng = np.random.default_rng(0)
    weights = {k: (0.2 * w).astype(np.float32) for k, w in random_weights(case.spec, rng).items()}
    return weights, [random_batch(case, rng) for _ in range(2)]


def _in_fresh_process(name: str, twin: str, repeats: int, steps: int) -> dict:
    """bench_worker.measure() in a new Python process (`python -m harness.studies.bench_worker CASE TWIN ...`);
    its JSON report."""
    return _worker([name, twin, str(repeats), str(steps)], f"{twin} on {name}")


def _epoch_in_fresh_process(config_name: str, twin: str) -> dict:
    """bench_worker.measure_epoch() in a new Python process; its JSON report."""
    return _worker(["--epoch", config_name, twin], f"{twin}'s epoch of {config_name}")


def _worker(arguments: list[str], what: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "harness.studies.bench_worker", *arguments], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bench process for {what} failed (exit {done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no message'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def epoch_configs(tasks=tuple(TASKS), shapes=None) -> list[str]:
    """The configs whose epoch `run_bench(..., epochs=True)` measures: the FIELD shapes' of the tasks (those
    named in `shapes`, when given)."""
    return [case.name for case in bench_cases()
            if case.name in FIELD and case.task in tasks and (shapes is None or case.name in shapes)]


def check_epoch_data(configs) -> None:
    """Load each config's task as its epoch process will, before any work: missing data is one line here."""
    for name in configs:
        prepare_task(load_config(CONFIG_DIR / f"{name}.yaml"))


def contenders() -> tuple[str, ...]:
    """The twins the bench times unless told: every installed twin of the registry."""
    return tuple(name for name in NAMES if available(name))


def check_shapes(shapes) -> None:
    """BenchError naming a shape that is no bench case."""
    known = [case.name for case in bench_cases()]
    unknown = [shape for shape in shapes if shape not in known]
    if unknown:
        raise BenchError(f"--shape {unknown[0]!r} is no bench shape; the shapes: {', '.join(map(repr, known))}")


def check_contenders(twins) -> None:
    """BenchError unless the NumPy twin is among the twins (every ratio is the NumPy twin's against another);
    TwinMissing for a twin whose optional extra is not installed."""
    if "numpy" not in twins or len(set(twins)) < 2:
        raise BenchError("the bench times the NumPy twin against at least one other: name numpy and another "
                         "twin in --twins")
    check_available(twins)


def run_bench(tasks=tuple(TASKS), rounds: int = 5, repeats: int = 5, steps: int = 5, progress: bool = True,
              twins=None, shapes=None, epochs: bool = False) -> dict:
    """Every case of the tasks (only those named in `shapes`, when given): `rounds` rounds of one fresh process
    per twin (default: contenders()), alternating in the registry's order; medians, min–max, and the NumPy
    twin's ratio to each other twin. With `epochs`, a FIELD case's row also gets one training epoch of its
    config on the real data per twin, each in a fresh process, after its rounds."""
    twins = contenders() if twins is None else tuple(ordered(twins))
    check_contenders(twins)
    gemm = _in_fresh_process("-", "gemm", 0, 0)
    report = {"method": {"rounds": rounds, "repeats_per_process": repeats, "steps_per_repeat": steps,
                         "warmup_steps": 3, "order": f"{', '.join(twins)}, alternating, one fresh process each"},
              "gemm_gflops": gemm["gemm_gflops"], "tasks": {}, **environment()}
    for case in bench_cases():
        if case.task not in tasks or (shapes is not None and case.name not in shapes):
            continue
        reports = {name: [] for name in twins}
        for round_ in range(rounds):
            for name in twins:
                reports[name].append(_in_fresh_process(case.name, source(name) or name, repeats, steps))
                if progress:
                    print(f"{case.name} round {round_ + 1}/{rounds} {name}: "
                          f"{reports[name][-1]['samples_per_second']:,.0f} samples/s", flush=True)
        row = {"batch_size": case.batch_size, "num_steps": case.num_steps, "hidden_size": case.spec.hidden_size,
               "num_classes": case.spec.num_classes, "vocab_size": case.spec.vocab_size, "layers": case.spec.layers,
               "bidirectional": case.spec.bidirectional, "dropout": case.dropout}
        for name, processes in reports.items():
            row[name] = _summary(processes)
        numpy_step = case.batch_size / row["numpy"]["samples_per_second"]
        row["numpy"]["gflops"] = case.matmul_flops() / numpy_step / 1e9
        row["numpy"]["gemm_fraction"] = row["numpy"]["gflops"] / report["gemm_gflops"]
        row["numpy_over"] = {name: row["numpy"]["samples_per_second"] / row[name]["samples_per_second"]
                             for name in twins if name != "numpy"}  # the ratio of the medians
        row["measured"] = {"git_commit": report["git_commit"], "date": time.strftime("%Y-%m-%d"),
                           "gemm_gflops": report["gemm_gflops"]}
        if epochs and case.name in FIELD:
            row["epoch_seconds"] = {}
            for name in twins:
                row["epoch_seconds"][name] = _epoch_in_fresh_process(case.name, source(name) or name)["epoch_seconds"]
                if progress:
                    print(f"{case.name} epoch {name}: {row['epoch_seconds'][name]:,.1f} s", flush=True)
        report["tasks"][case.name] = row
        if progress:
            print(f"{case.name}: " + ", ".join(f"NumPy / {label(name)} {ratio:.2f}"
                                               for name, ratio in row["numpy_over"].items()), flush=True)
    return report


def _summary(processes: list[dict]) -> dict:
    """One twin's processes on a task: median and min–max of samples/s over them, tokens/s, memory, threads, and
    the medians of its cell costs."""
    speeds = [p["samples_per_second"] for p in processes]
    profiles = [p["profile"] for p in processes if "profile" in p]
    costs = [p["cell_costs"] for p in processes if "cell_costs" in p]
    return {"samples_per_second": statistics.median(speeds), "min": min(speeds), "max": max(speeds),
            "per_process": speeds, "tokens_per_second": statistics.median(p["tokens_per_second"] for p in processes),
            "peak_rss_mib": statistics.median(p["peak_rss_mib"] for p in processes), "threads": processes[0]["threads"],
            "versions": processes[0]["versions"], **({"profile": step_profile.summary(profiles)} if profiles else {}),
            **({"cell_costs": {key: statistics.median(c[key] for c in costs) for key in costs[0]}} if costs else {}),
            **({"lstm_ops": processes[0]["lstm_ops"]} if "lstm_ops" in processes[0] else {})}


def merged(report: dict, path) -> dict:
    """`report` with the rows of the tasks it did not measure kept from the earlier report at `path`
    (each row says when and with which commit it was measured)."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))["tasks"]
        earlier = {task: row for task, row in earlier.items() if isinstance(row, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # none, or not a report: nothing kept
        return report
    kept = {task: row for task, row in earlier.items()  # rows of this report's form only
            if task not in report["tasks"] and "measured" in row and "numpy_over" in row}
    order = [case.name for case in bench_cases() if case.name in kept or case.name in report["tasks"]]
    return {**report, "tasks": {task: report["tasks"].get(task) or kept[task] for task in order}}


