"""`make bench`: training-step throughput of both twins, side by side in one process, per task shape.

For each task the model shape and batch size come from configs/<task>.yaml; the
batches are fixed synthetic ones of the real shapes (token ids, padding masks,
carried state for the language model). After warm-up, the twins are timed in
turn, A B A B, so that both see the same machine noise; the headline is the
ratio of their median samples per second. Peak memory is the increase of the
peak RSS of a separate process that runs a few steps of one twin. For the NumPy
twin, GFLOP/s are counted from the matmul sizes and compared with the float32
GEMM throughput measured on the same machine in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from .config import TASKS, config_path, load_config
from .parity import random_weights
from .spec import Batch, ModelSpec, Schedule, State
from .tasks import EMBEDDING_SIZE

# Sizes of the synthetic data per task, kept in one table: (vocabulary, classes, time steps).
# IMDB: max_len tokens; PTB-LM: num_steps; POS: about the longest sentence of a typical batch of 32.
SHAPES = {"mnist": (None, 10, 28), "imdb": (20000, 2, 200), "ptb_lm": (10000, 10000, None), "ptb_pos": (4964, 45, 48)}


@dataclass(frozen=True)
class BenchCase:
    task: str
    spec: ModelSpec
    batch_size: int
    num_steps: int
    carries_state: bool

    def batch(self, rng: np.random.Generator) -> Batch:
        """A fixed batch of the real shapes; sequence tasks get variable lengths (1/4 to full)."""
        spec, N, T = self.spec, self.batch_size, self.num_steps
        if not spec.has_embedding:
            return Batch(rng.random((N, T, spec.input_size), dtype=np.float32), rng.integers(0, spec.num_classes, N))
        inputs = rng.integers(1, spec.vocab_size, size=(N, T))
        targets = rng.integers(0, spec.num_classes, size=(N,) if spec.head == "pooled" else (N, T))
        if self.carries_state:
            return Batch(inputs, targets)
        lengths = rng.integers(T // 4, T + 1, size=N)
        mask = np.arange(T)[None, :] < lengths[:, None]
        return Batch(np.where(mask, inputs, 0), targets, mask)

    def matmul_flops(self) -> float:
        """Floating-point operations of the matmuls in one NumPy training step (forward + backward)."""
        spec, N, T = self.spec, self.batch_size, self.num_steps
        D, H, C = spec.input_size, spec.hidden_size, spec.num_classes
        lstm = 2 * N * T * 4 * H * (D + H)  # input projection and recurrence
        dense = 2 * N * H * C * (T if spec.head == "per_step" else 1)
        # backward: the LSTM's dx, dWx, dh, dWh and the Linear's dx, dW: twice the forward each
        return 3 * (lstm + dense)


def bench_cases() -> list[BenchCase]:
    cases = []
    for task in TASKS:
        config = load_config(config_path(task))
        vocab, classes, steps = SHAPES[task]
        embedded = vocab is not None
        spec = ModelSpec(
            "per_step" if task.startswith("ptb") else "pooled",
            EMBEDDING_SIZE if embedded else 28,
            config["model"]["hidden_size"],
            classes,
            vocab,
            config["model"]["train_embedding"],
        )
        steps = steps or config["data"]["num_steps"]
        cases.append(BenchCase(task, spec, config["training"]["batch_size"], steps, task == "ptb_lm"))
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


def time_twins(case: BenchCase, twins: dict, warmup: int = 3, repeats: int = 7, steps: int = 5) -> dict[str, list]:
    """{twin name: [seconds per step for each repeat]}, timed A B A B after warm-up."""
    rng = np.random.default_rng(0)
    weights = {k: w.astype(np.float32) for k, w in random_weights(case.spec, rng).items()}
    weights = {k: 0.2 * w for k, w in weights.items()}
    batches = [case.batch(rng) for _ in range(2)]
    schedule = Schedule(0.1, 0.0, 5.0)
    models = {name: twin.build_model(case.spec, weights, "float32") for name, twin in twins.items()}
    states = {name: None for name in twins}

    def run(name: str, count: int) -> None:
        twin, model = twins[name], models[name]
        for k in range(count):
            result = twin.train_step(model, batches[k % 2], schedule, 0, states[name])
            if not np.isfinite(result.loss):
                raise RuntimeError(f"{name} twin: loss is {result.loss} on {case.task}: a fast wrong model is no result")
            states[name] = State(*result.state) if case.carries_state else None

    for name in twins:
        run(name, warmup)
    times = {name: [] for name in twins}
    for _ in range(repeats):
        for name in twins:
            times[name].append(_timed(lambda: run(name, steps)) / steps)
    return times


def peak_memory_mib(task: str, twin: str) -> float:
    """Peak RSS increase (MiB) of a fresh process running a few training steps of one twin."""
    code = (
        "import importlib, json\n"
        "from harness.bench import bench_cases, time_twins\n"
        "from harness.results import current_rss_mb, peak_rss_mb, reset_peak_rss\n"
        f"case = next(c for c in bench_cases() if c.task == {task!r})\n"
        f"twin = importlib.import_module({'impl_' + twin!r})\n"
        "reset_peak_rss()\n"
        "before = current_rss_mb()\n"
        "time_twins(case, {'x': twin}, warmup=2, repeats=1, steps=2)\n"
        "print(json.dumps(peak_rss_mb() - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run_bench(tasks=TASKS, repeats: int = 7) -> dict:
    import impl_numpy
    import impl_tensorflow

    from .results import environment

    twins = {"numpy": impl_numpy, "tensorflow": impl_tensorflow}
    report = {"gemm_gflops": gemm_gflops(), "tasks": {}, **environment()}
    for case in bench_cases():
        if case.task not in tasks:
            continue
        times = time_twins(case, twins, repeats=repeats)
        row = {"batch_size": case.batch_size, "num_steps": case.num_steps, "hidden_size": case.spec.hidden_size,
               "num_classes": case.spec.num_classes, "vocab_size": case.spec.vocab_size}
        for name, seconds in times.items():
            speeds = sorted(case.batch_size / s for s in seconds)
            row[name] = {"samples_per_second": float(np.median(speeds)), "min": speeds[0], "max": speeds[-1],
                         "peak_memory_mib": peak_memory_mib(case.task, name)}
        row["numpy"]["gflops"] = case.matmul_flops() / float(np.median(times["numpy"])) / 1e9
        row["numpy"]["gemm_fraction"] = row["numpy"]["gflops"] / report["gemm_gflops"]
        row["speedup"] = row["numpy"]["samples_per_second"] / row["tensorflow"]["samples_per_second"]
        report["tasks"][case.task] = row
        print(f"{case.task}: NumPy {row['numpy']['samples_per_second']:.0f} samples/s, "
              f"TensorFlow {row['tensorflow']['samples_per_second']:.0f}, ratio {row['speedup']:.2f}", flush=True)
    return report


def bench_markdown(report: dict) -> str:
    lines = [
        "| task | batch × steps | NumPy samples/s (min–max) | TF samples/s (min–max) | NumPy / TF | "
        "NumPy GFLOP/s | of GEMM peak | NumPy peak MiB | TF peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, row in report["tasks"].items():
        n, t = row["numpy"], row["tensorflow"]
        lines.append(
            f"| {task} | {row['batch_size']} × {row['num_steps']} | {n['samples_per_second']:,.0f} "
            f"({n['min']:,.0f}–{n['max']:,.0f}) | {t['samples_per_second']:,.0f} ({t['min']:,.0f}–{t['max']:,.0f}) | "
            f"**{row['speedup']:.2f}×** | {n['gflops']:.1f} | {n['gemm_fraction']:.0%} | "
            f"{n['peak_memory_mib']:.0f} | {t['peak_memory_mib']:.0f} |"
        )
    return "\n".join(lines)


def bench_page(report: dict) -> str:
    return "\n".join([
        "# Benchmark: training steps per second, NumPy twin vs TensorFlow twin",
        "",
        "Generated by `make bench` (`python -m harness bench`) from `results/bench.json`; do not edit.",
        "Both twins train on the same fixed synthetic float32 batches of each task's real shape, timed in",
        "turn (A B A B) after warm-up in one process; samples/s is the median of the repeats. The ratio is",
        "the headline: this machine is shared and noisy. GFLOP/s counts the NumPy twin's matmuls;",
        f"the machine's float32 GEMM throughput in this run was {report['gemm_gflops']:.1f} GFLOP/s.",
        f"Machine: {report['machine']['processor']}, {report['machine']['cpus']} CPUs; "
        f"NumPy {report['versions']['numpy']} ({report['blas']}), TensorFlow {report['versions'].get('tensorflow')}.",
        "",
        bench_markdown(report),
        "",
    ])


def main_bench(tasks, repeats: int, out_dir) -> int:
    from .atomic_files import write_json_atomic, write_text_atomic

    report = run_bench(tasks, repeats)
    write_json_atomic(out_dir / "bench.json", report)
    page = bench_page(report)
    write_text_atomic(out_dir / "bench.md", page)
    print(page)
    return 0

