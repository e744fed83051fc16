"""`make bench`: training-step throughput of each twin, each in its own fresh process, per task shape.

For each task the model shape and batch size come from configs/<task>.yaml; the
batches are fixed synthetic ones of the real shapes (token ids, padding masks,
carried state for the language model). Two numerical libraries in one process
fight over the cores (OpenBLAS's threads spin after each call, TensorFlow keeps
pools of its own), so every measurement is a fresh process that imports one twin
only: it warms up, times a few repeats of a few steps, and reports the median.
Processes alternate NumPy, TensorFlow, NumPy, ... for several rounds, so both
twins see the same machine noise; each twin's figure is the median over rounds
(with min–max), the headline the ratio of the medians. Each process also reports
its peak memory and its thread settings. For the NumPy twin, GFLOP/s are counted
from the matmul sizes and compared with the float32 GEMM throughput, measured in
a process of its own in the same run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .config import load_config
from .paths import CONFIG_DIR
from .provenance import KERNEL_VARIABLES
from .parity import random_batch, random_weights
from twin_contract import Batch, ModelSpec, State

from . import step_profile
from .markdown import table
from .twins import MODULES, NAMES, load

from .tasks import TASKS, model_spec

PYTORCH = "pytorch"  # the outside reference, timed when an interpreter with PyTorch is at hand
CONTENDER_TITLES = {"numpy": "NumPy twin", "tensorflow": "TensorFlow twin", PYTORCH: "PyTorch"}
TORCH_PYTHON_VARIABLE = "LSTM_TWINS_TORCH_PYTHON"


@dataclass(frozen=True)
class BenchCase:
    """One real shape; its batches come from parity.random_batch, as the parity cases' do
    (padding: the config's side for variable-length sequences, None when every row is full;
    dropout: the config's, its masks in the batches)."""

    name: str
    task: str
    spec: ModelSpec
    batch_size: int
    num_steps: int
    carries_state: bool
    padding: Optional[str] = None
    dropout: float = 0.0

    def tokens(self, batch: Batch) -> int:
        """The real tokens (time steps) of a batch."""
        return int(batch.targets.shape[0] * self.num_steps if batch.mask is None else batch.mask.sum())

    def matmul_flops(self) -> float:
        """Floating-point operations of the matmuls in one NumPy training step (forward + backward)."""
        spec, N, T = self.spec, self.batch_size, self.num_steps
        H = spec.hidden_size
        lstm = sum(2 * N * T * 4 * H * (spec.layer_input_size(j // spec.directions) + H)  # input projection and
                   for j in range(len(spec.direction_names())))  # recurrence, per layer and direction
        dense = 2 * N * spec.output_size * spec.num_classes * (T if spec.head == "per_step" else 1)
        # backward: the LSTM's dx, dWx, dh, dWh and the Linear's dx, dW: twice the forward each
        return 3 * (lstm + dense)


# The LSTM family's shapes, for the results at the field's level: (name, config, model changes).
FAMILY = (
    ("ptb_pos, bidirectional 2 layers", "ptb_pos_strong", {"layers": 2, "bidirectional": True}),
    ("ptb_lm, 2 layers, dropout", "ptb_lm_strong", {"layers": 2, "dropout": 0.5}),
)


def bench_cases() -> list[BenchCase]:
    """One case per task, the registry's synthetic shape at the model size and batch of configs/<task>.yaml,
    then the FAMILY's."""
    chosen = [(task.name, task.name, {}) for task in TASKS.values()] + list(FAMILY)
    cases = []
    for name, config_name, changes in chosen:
        config = load_config(CONFIG_DIR / f"{config_name}.yaml")
        config = {**config, "model": {**config["model"], **changes}}
        task = TASKS[config["task"]]
        vocab, classes, steps = task.bench
        # MNIST's rows of 28 pixels, else the embedding
        spec = model_spec(config, 28 if vocab is None else config["model"]["embedding_size"], classes, vocab)
        cases.append(BenchCase(name, task.name, spec, config["training"]["batch_size"],
                               steps or config["data"]["num_steps"], task.carries_state,
                               config["data"].get("padding"), config["model"]["dropout"]))
    return cases


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


def bench_inputs(case: BenchCase) -> tuple[dict[str, np.ndarray], list[Batch]]:
    """The case's float32 weights (canonical layout) and its two batches, the same in every process."""
    rng = np.random.default_rng(0)
    weights = {k: (0.2 * w).astype(np.float32) for k, w in random_weights(case.spec, rng).items()}
    return weights, [random_batch(case, rng) for _ in range(2)]


def time_twin(case: BenchCase, twin, warmup: int = 3, repeats: int = 5, steps: int = 5, profile: bool = False) -> dict:
    """One twin's training steps on the case: {"seconds_per_step": [one per repeat], "tokens_per_batch"},
    and with `profile` (the NumPy twin) "profile": step_profile.profile_step of `steps` more steps.

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
    return {**timing, "profile": step_profile.profile_step(case, run, steps)} if profile else timing


def measure(name: str, twin_name: str, repeats: int, steps: int) -> dict:
    """What one bench process reports: its twin's speed on the named case, its peak memory, its threads."""
    from .provenance import environment, peak_rss_mb

    if twin_name == "gemm":
        return {"gemm_gflops": gemm_gflops(), "threads": environment()["threads"]}
    case = next(c for c in bench_cases() if c.name == name)
    timing = time_twin(case, load(twin_name), repeats=repeats, steps=steps, profile=twin_name == "numpy")
    step = statistics.median(timing["seconds_per_step"])
    return {"samples_per_second": case.batch_size / step, "tokens_per_second": timing["tokens_per_batch"] / step,
            "peak_rss_mib": peak_rss_mb(), **({"profile": timing["profile"]} if "profile" in timing else {}),
            "twins_loaded": sorted(name for name in MODULES.values() if name in sys.modules),
            **{k: v for k, v in environment().items() if k in ("threads", "versions")}}


def pytorch_python() -> Optional[str]:
    """The interpreter that runs the PyTorch reference: $LSTM_TWINS_TORCH_PYTHON, else this one when it has
    PyTorch, else None (no PyTorch column)."""
    chosen = os.environ.get(TORCH_PYTHON_VARIABLE)
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise ValueError(f"{TORCH_PYTHON_VARIABLE}={chosen!r} is no executable file; name a Python "
                             "interpreter that has PyTorch, or unset it to bench without PyTorch")
        return chosen
    return sys.executable if importlib.util.find_spec("torch") is not None else None


def write_case_file(case: BenchCase, path: Path) -> None:
    """The case for bench_pytorch.py: its shape (JSON), weights and two batches, in one npz."""
    weights, batches = bench_inputs(case)
    spec = case.spec
    shape = {"head": spec.head, "hidden_size": spec.hidden_size, "layers": spec.layers,
             "bidirectional": spec.bidirectional, "train_embedding": spec.train_embedding,
             "tie_embeddings": spec.tie_embeddings, "features": bool(spec.features), "pooling": spec.pooling,
             "batch_size": case.batch_size,
             "num_steps": case.num_steps, "carries_state": case.carries_state}
    arrays = {"case": np.array(json.dumps(shape)), **{f"weight:{k}": w for k, w in weights.items()}}
    for b, batch in enumerate(batches):
        arrays[f"batch{b}:inputs"], arrays[f"batch{b}:targets"] = batch.inputs, batch.targets
        if batch.mask is not None:
            arrays[f"batch{b}:mask"] = batch.mask
        for k, mask in enumerate(batch.dropout or ()):
            arrays[f"batch{b}:dropout{k:02d}"] = mask
    np.savez(path, **arrays)


def _in_fresh_process(name: str, twin: str, repeats: int, steps: int) -> dict:
    """measure() in a new Python process (`python -m harness.bench CASE TWIN ...`), or for "pytorch"
    bench_pytorch.py under pytorch_python(); its JSON report."""
    with tempfile.TemporaryDirectory() as scratch:
        if twin == PYTORCH:
            case_file = Path(scratch) / "case.npz"
            write_case_file(next(c for c in bench_cases() if c.name == name), case_file)
            command = [pytorch_python(), str(Path(__file__).with_name("bench_pytorch.py")), str(case_file)]
        else:
            command = [sys.executable, "-m", "harness.bench", name, twin]
        done = subprocess.run(command + [str(repeats), str(steps)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the bench process for {twin} on {name} failed (exit {done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'no message'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(tasks=tuple(TASKS), rounds: int = 5, repeats: int = 5, steps: int = 5, progress: bool = True) -> dict:
    """Every case of the tasks: `rounds` rounds of one fresh process per contender (the twins, then PyTorch
    when pytorch_python() finds it), alternating; medians, min–max and ratios."""
    from .provenance import environment

    contenders = NAMES + ((PYTORCH,) if pytorch_python() else ())
    gemm = _in_fresh_process("-", "gemm", 0, 0)
    report = {"method": {"rounds": rounds, "repeats_per_process": repeats, "steps_per_repeat": steps,
                         "warmup_steps": 3, "order": f"{', '.join(contenders)}, alternating, one fresh process each"},
              "gemm_gflops": gemm["gemm_gflops"], "tasks": {}, **environment()}
    for case in bench_cases():
        if case.task not in tasks:
            continue
        reports = {name: [] for name in contenders}
        for round_ in range(rounds):
            for name in contenders:
                reports[name].append(_in_fresh_process(case.name, name, repeats, steps))
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
        row["speedup"] = row["numpy"]["samples_per_second"] / row["tensorflow"]["samples_per_second"]
        if PYTORCH in row:
            row["speedup_over_pytorch"] = row["numpy"]["samples_per_second"] / row[PYTORCH]["samples_per_second"]
        row["measured"] = {"git_commit": report["git_commit"], "date": time.strftime("%Y-%m-%d"),
                           "gemm_gflops": report["gemm_gflops"]}
        report["tasks"][case.name] = row
        if progress:
            print(f"{case.name}: NumPy / TensorFlow {row['speedup']:.2f}" + (
                f", NumPy / PyTorch {row['speedup_over_pytorch']:.2f}" if PYTORCH in row else ""), flush=True)
    return report


def _summary(processes: list[dict]) -> dict:
    """One twin's processes on a task: median and min–max of samples/s over them, tokens/s, memory, threads."""
    speeds = [p["samples_per_second"] for p in processes]
    profiles = [p["profile"] for p in processes if "profile" in p]
    return {"samples_per_second": statistics.median(speeds), "min": min(speeds), "max": max(speeds),
            "per_process": speeds, "tokens_per_second": statistics.median(p["tokens_per_second"] for p in processes),
            "peak_rss_mib": statistics.median(p["peak_rss_mib"] for p in processes), "threads": processes[0]["threads"],
            "versions": processes[0]["versions"], **({"profile": step_profile.summary(profiles)} if profiles else {})}


def bench_markdown(report: dict) -> str:
    rows = []
    for name, row in report["tasks"].items():
        n, t = row["numpy"], row["tensorflow"]
        tokens = [f"{x['tokens_per_second']:,.0f}" if name != "mnist" else "—" for x in (n, t)]
        rows.append({
            "shape": name, "H": str(row["hidden_size"]), "batch × steps": f"{row['batch_size']} × {row['num_steps']}",
            "NumPy samples/s (min–max)": f"{n['samples_per_second']:,.0f} ({n['min']:,.0f}–{n['max']:,.0f})",
            "TF samples/s (min–max)": f"{t['samples_per_second']:,.0f} ({t['min']:,.0f}–{t['max']:,.0f})",
            "NumPy / TF": f"**{row['speedup']:.2f}×**",
            **({} if PYTORCH not in row else {
                "PyTorch samples/s (min–max)": f"{row[PYTORCH]['samples_per_second']:,.0f} "
                                               f"({row[PYTORCH]['min']:,.0f}–{row[PYTORCH]['max']:,.0f})",
                "NumPy / PyTorch": f"**{row['speedup_over_pytorch']:.2f}×**"}),
            "NumPy tokens/s": tokens[0], "TF tokens/s": tokens[1],
            "NumPy GFLOP/s": f"{n['gflops']:.1f}", "of GEMM peak": f"{n['gemm_fraction']:.0%}",
            "NumPy peak MiB": f"{n['peak_rss_mib']:,.0f}", "TF peak MiB": f"{t['peak_rss_mib']:,.0f}",
        })
    return table(rows)


def bench_summary(report: dict) -> str:
    """How the figures were measured, in a few sentences."""
    m = report["method"]
    pytorch = _pytorch_version(report)
    contenders = "NumPy and TensorFlow" if pytorch is None else (
        f"NumPy, TensorFlow and PyTorch {pytorch} (an outside reference: its own `nn.LSTM` layers on the same "
        "weights and batches, `harness/bench_pytorch.py`)")
    return (f"Training steps on each task's shape (float32), each measurement a fresh process that imports one "
            f"library's model only: {m['rounds']} rounds alternating {contenders}, each process "
            f"{m['warmup_steps']} warm-up steps then the median of {m['repeats_per_process']} repeats of "
            f"{m['steps_per_repeat']} steps; samples/s is the median over rounds (min–max), the ratio that of the "
            f"medians. This machine's float32 GEMM throughput: {report['gemm_gflops']:.1f} GFLOP/s "
            f"(NumPy's {blas_kernels(report['threads'])}).")


def blas_kernels(threads: dict) -> str:
    """Which CPU kernels NumPy's BLAS runs, and whether the environment chose them."""
    kernels = ", ".join(sorted({str(pool.get("kernels") or "?") for pool in threads["blas_pools"]})) or "?"
    pinned = {k: v for k, v in threads["environment"].items() if k in KERNEL_VARIABLES}
    return f"BLAS kernels: {kernels}, " + (
        f"pinned by {', '.join(f'{k}={v}' for k, v in pinned.items())}" if pinned else "chosen for this CPU")


def bench_page(report: dict) -> str:
    threads = {name: row[name]["threads"] for row in report["tasks"].values() for name in (*NAMES, PYTORCH)
               if name in row}
    title = "NumPy twin vs TensorFlow twin" + (" and PyTorch" if PYTORCH in threads else "")
    return "\n".join([
        f"# Benchmark: training steps per second, {title}",
        "",
        "Generated by `make bench` (`python -m harness bench`) from `results/bench.json`; do not edit.",
        bench_summary(report),
        "Peak MiB: the median over rounds of the measuring process's peak resident memory (interpreter, library, "
        "model, batches). GFLOP/s counts the NumPy twin's matmuls.",
        f"Machine: {report['machine']['processor']}, {report['machine']['cpus']} CPUs; "
        f"NumPy {report['versions']['numpy']} ({report['blas']}), TensorFlow {_tensorflow_version(report)}, "
        f"commit {report['git_commit']}.",
        "Threads: " + "; ".join(f"{CONTENDER_TITLES[name]} {json.dumps(t)}" for name, t in threads.items()) + ".",
        *_measured_apart(report),
        "",
        bench_markdown(report),
        "",
        *_profile_section(report),
    ])


def _profile_section(report: dict) -> list[str]:
    """Where the NumPy twin's step goes, for the rows whose run profiled it."""
    rows = {name: row["numpy"]["profile"] for name, row in report["tasks"].items() if "profile" in row["numpy"]}
    if not rows:
        return []
    return ["## Where the NumPy twin's step goes", "",
            step_profile.EXPLANATION + " Each figure is the median over rounds; the parts are shares of the "
            "profiled step (cProfile slows the Python-heavy parts a little).",
            "", step_profile.profile_markdown(rows), ""]


def _measured_apart(report: dict) -> list[str]:
    """A line when the rows come from different `make bench` runs (a `--task` run merged in)."""
    runs = {task: (row["measured"]["date"], row["measured"]["git_commit"]) for task, row in report["tasks"].items()}
    if len(set(runs.values())) <= 1:
        return []
    return ["Rows measured in different runs: " + ", ".join(f"{task} on {date} (commit {commit})"
                                                           for task, (date, commit) in runs.items()) + "."]


def _tensorflow_version(report: dict) -> str:
    rows = list(report["tasks"].values())
    return rows[0]["tensorflow"]["versions"].get("tensorflow", "?") if rows else "?"


def _pytorch_version(report: dict) -> Optional[str]:
    """PyTorch's version when a row has its column, else None."""
    return next((row[PYTORCH]["versions"].get("torch", "?") for row in report["tasks"].values() if PYTORCH in row),
                None)


def merged(report: dict, path) -> dict:
    """`report` with the rows of the tasks it did not measure kept from the earlier report at `path`
    (each row says when and with which commit it was measured)."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))["tasks"]
    except (OSError, ValueError, KeyError):
        return report
    kept = {task: row for task, row in earlier.items() if task not in report["tasks"] and "measured" in row}
    order = [case.name for case in bench_cases() if case.name in kept or case.name in report["tasks"]]
    return {**report, "tasks": {task: report["tasks"].get(task) or kept[task] for task in order}}


def main_bench(tasks, rounds: int, out_dir) -> int:
    from .atomic_files import write_json_atomic, write_text_atomic

    report = merged(run_bench(tasks, rounds), out_dir / "bench.json")
    write_json_atomic(out_dir / "bench.json", report)
    page = bench_page(report)
    write_text_atomic(out_dir / "bench.md", page)
    print(page)
    return 0


if __name__ == "__main__":  # one bench process: python -m harness.bench CASE TWIN REPEATS STEPS
    case_name, twin_name, repeats_text, steps_text = sys.argv[1:5]
    print(json.dumps(measure(case_name, twin_name, int(repeats_text), int(steps_text))))
