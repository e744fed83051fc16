"""The page of `make bench` (results/bench.md) and the README's speed section, from results/bench.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..provenance import KERNEL_VARIABLES
from ..twins import LIBRARIES, REFERENCE, label, ordered, short
from ..recipe.config import file_digest
from .comparison import load_comparison
from .markdown import table
from .runs import epochs_table, with_keys

PROFILE_EXPLANATION = (
    "cProfile times a few training steps in the NumPy twin's bench process, after its timed steps, and splits "
    "each step among the model's parts: the LSTM's forward and backward passes, the output layer (Linear and "
    "softmax cross-entropy), the embedding, the pooling, clipping and SGD. The LSTM's share is then put in terms of "
    "its recurrent loops: the time of one LSTM time step (forward and backward, per layer and direction) against "
    "what its two recurrent matmuls (h·Wh forward, da·Whᵀ backward) take alone at the shape, and against the cost "
    "of a NumPy call that does almost nothing. The rest of a time step is its elementwise calls on arrays of N·H "
    "to N·4H numbers, counted at the shape (every ufunc and array function that lstm.py's two loops call per time "
    "step, padded steps included); their number times that floor is the time step's call floor, what the calls "
    "would cost if each did no work. Where the arrays are small, the time step is close to its call floor plus its "
    "matmuls: the loop is bound by the number of calls more than by arithmetic; where they are large, the gap is "
    "the arithmetic itself (single-threaded: NumPy runs each elementwise call on one core).")


CELL_COSTS_EXPLANATION = (
    "The cell's primitives in each twin's own library, in its bench processes (`harness/studies/cell_costs.py`), at "
    "each shape's batch N and width H, float32: tanh over an (N, 4H) gate block, the time step's two recurrent "
    "matmuls (h·Wh and da·Whᵀ) and a call that does almost nothing; each the best of a few repeats of many "
    "calls, the median over rounds. They show where a twin's time step differs from the NumPy twin's: in the BLAS, in "
    "the elementwise kernels (vectorized or not, on one core or several) or in what one call costs. TensorFlow's "
    "twin runs its steps inside a graph, where no single call can be timed alone, so it has no columns here. "
    "PyTorch's LSTM ops are those its profiler saw in one more training step: `aten::mkldnn_rnn_layer` (and its "
    "backward) is oneDNN's fused LSTM, a layer's steps in one JIT-compiled call per pass; `aten::lstm` alone means "
    "ATen's step-by-step loop in C++ (packed sequences, the padded shapes, take that path): a dozen operations "
    "per step, each recorded for autograd, called from C++ rather than from Python as those timed here.")

# what a reader needs to know to read a twin's figures
TWIN_NOTES = {"pytorch": "The PyTorch twin computes Keras's masking exactly (packed sequences; for pre-padding and "
                         "holes each row's real steps gathered to its front and back), work that PyTorch's `nn.LSTM` "
                         "alone would not do on the padded shapes (imdb pre-padded, ptb_pos post-padded)."}


def is_bench(data) -> bool:
    """Whether JSON read from bench.json is a report of this bench's form (every row with its ratios)."""
    return (with_keys("tasks", "method", "gemm_gflops", "threads")(data) and isinstance(data["tasks"], dict)
            and all(with_keys("numpy", "numpy_over")(row) for row in data["tasks"].values()))


def benched(report: dict) -> list[str]:
    """The twins the report's rows time: the NumPy twin, the reference, then the others (twins.ordered)."""
    present = {name for row in report["tasks"].values() for name in row["numpy_over"]}
    return ["numpy", *([REFERENCE] if REFERENCE in present else []), *ordered(present - {REFERENCE})]


def bench_markdown(report: dict) -> str:
    """One row per shape: each twin's samples/s, the NumPy twin's ratio to each other twin, tokens/s, the NumPy
    twin's GFLOP/s, each twin's peak memory; "—" where a row did not time a twin."""
    twins = benched(report)
    others = [name for name in twins if name != "numpy"]
    rows = []
    for name, row in report["tasks"].items():
        def cell(twin, text):
            return text(row[twin]) if twin in row else "—"

        speeds = {f"{short(twin)} samples/s (min–max)": cell(
            twin, lambda t: f"{t['samples_per_second']:,.0f} ({t['min']:,.0f}–{t['max']:,.0f})") for twin in twins}
        ratios = {f"NumPy / {short(twin)}": f"**{row['numpy_over'][twin]:.2f}×**" if twin in row else "—"
                  for twin in others}
        rows.append({
            "shape": name, "H": str(row["hidden_size"]), "batch × steps": f"{row['batch_size']} × {row['num_steps']}",
            **speeds, **ratios,
            **{f"{short(twin)} tokens/s": cell(twin, lambda t: f"{t['tokens_per_second']:,.0f}")
               if row.get("vocab_size") is not None else "—" for twin in twins},  # tokens: not pixel rows
            "NumPy GFLOP/s": f"{row['numpy']['gflops']:.1f}", "of GEMM peak": f"{row['numpy']['gemm_fraction']:.0%}",
            **{f"{short(twin)} peak MiB": cell(twin, lambda t: f"{t['peak_rss_mib']:,.0f}") for twin in twins},
        })
    return table(rows)


def bench_summary(report: dict) -> str:
    """How the figures were measured, in a few sentences."""
    m = report["method"]
    names = [f"{label(twin)}" for twin in benched(report)]
    return (f"Training steps of each twin on each task's shape (float32), each measurement a fresh process that "
            f"imports one twin only: {m['rounds']} rounds alternating the {', '.join(names[:-1])} and {names[-1]} "
            f"twins, each process {m['warmup_steps']} warm-up steps then the median of {m['repeats_per_process']} "
            f"repeats of {m['steps_per_repeat']} steps; samples/s is the median over rounds (min–max), the ratio "
            f"that of the medians. This machine's float32 GEMM throughput: {report['gemm_gflops']:.1f} GFLOP/s "
            f"(NumPy's {blas_kernels(report['threads'])}).")


def blas_kernels(threads: dict) -> str:
    """Which CPU kernels NumPy's BLAS runs, and whether the environment chose them."""
    kernels = ", ".join(sorted({str(pool.get("kernels") or "?") for pool in threads["blas_pools"]})) or "?"
    pinned = {k: v for k, v in threads["environment"].items() if k in KERNEL_VARIABLES}
    return f"BLAS kernels: {kernels}, " + (
        f"pinned by {', '.join(f'{k}={v}' for k, v in pinned.items())}" if pinned else "chosen for this CPU")


def epoch_seconds(report: dict, results_dir: Path, config_dir: Path) -> dict[str, dict[str, float]]:
    """For each row named after a config (configs/<name>.yaml): each twin's median seconds per training epoch
    over every epoch of its complete committed runs of the config's settings."""
    found = {}
    for name in report["tasks"]:
        path = config_dir / f"{name}.yaml"
        if not path.exists():
            continue
        comparison = load_comparison(results_dir / name, file_digest(path))
        every = epochs_table(comparison.complete())
        if len(every):
            found[name] = {twin: float(seconds) for twin, seconds in every.groupby("twin")["seconds"].median().items()}
    return found


def _epoch_section(report: dict, epochs: dict[str, dict[str, float]]) -> list[str]:
    """One training epoch of each config a shape is named after, per twin: measured by `bench --epochs` on the
    bench's machine (the rows that have it), then from the config's committed runs."""
    measured = {name: row["epoch_seconds"] for name, row in report["tasks"].items() if "epoch_seconds" in row}
    if not measured and not epochs:
        return []
    lines = ["## One training epoch of each config a shape is named after", ""]
    if measured:
        twins = ordered(twin for times in measured.values() for twin in times)
        rows = [{"config": f"`{name}`", **_epoch_cells(times, twins),
                 **{f"NumPy / {short(twin)}": f"**{times[twin] / times['numpy']:.2f}×**"
                    if twin in times and "numpy" in times else "—" for twin in twins if twin != "numpy"}}
                for name, times in measured.items()]
        lines += ["Measured on this bench's machine (`python -m harness bench --epochs`): the first training epoch "
                  "of each config on its real data (its batches, padding, dropout and learning rate; evaluation "
                  "excluded), one fresh process per twin after the shape's rounds, once each; the ratio is the "
                  "other twin's time over the NumPy twin's.", "", table(rows), ""]
    if epochs:
        twins = ordered(twin for times in epochs.values() for twin in times)
        rows = [{"config": f"`{name}`", **_epoch_cells(times, twins)} for name, times in epochs.items()]
        lines += ["From the committed runs: the median wall time of one training epoch (evaluation excluded) over "
                  "every epoch of the complete committed runs of each config (`results/<config>/`), per twin. Those "
                  "runs trained on the project's machines as they came, not on this bench's machine, one at a time "
                  "or beside other work, with the code of their commit (each comparison page gives its runs' "
                  "threads and times): a second view, not a measurement of the bench's kind.", "", table(rows), ""]
    return lines


def _epoch_cells(times: dict[str, float], twins: list[str]) -> dict[str, str]:
    return {f"{label(twin)} s/epoch": f"{times[twin]:,.1f}" if twin in times else "—" for twin in twins}


def bench_page(report: dict, epochs: Optional[dict[str, dict[str, float]]] = None) -> str:
    """The page; epochs: epoch_seconds() for its section (none without)."""
    twins = benched(report)
    threads = {name: row[name]["threads"] for row in report["tasks"].values() for name in twins if name in row}
    title = " vs ".join(f"{label(name)} twin" for name in twins)
    return "\n".join([
        f"# Benchmark: training steps per second, {title}",
        "",
        "Generated by `make bench` (`python -m harness bench`) from `results/bench.json`; do not edit.",
        bench_summary(report),
        "Peak MiB: the median over rounds of the measuring process's peak resident memory (interpreter, library, "
        "model, batches). GFLOP/s counts the NumPy twin's matmuls.",
        f"Machine: {report['machine']['processor']}, {report['machine']['cpus']} CPUs; "
        f"NumPy {report['versions']['numpy']} ({report['blas']}), {_versions(report, twins)}, "
        f"commit {report['git_commit']}.",
        "Threads: " + "; ".join(f"{label(name)} twin {json.dumps(t)}" for name, t in threads.items()) + ".",
        *_measured_apart(report),
        *[TWIN_NOTES[name] for name in twins if name in TWIN_NOTES],
        "",
        bench_markdown(report),
        "",
        *_epoch_section(report, epochs or {}),
        *_profile_section(report),
    ])


def _profile_section(report: dict) -> list[str]:
    """Where the NumPy twin's step goes, for the rows whose run profiled it; then the cell's primitives in each
    twin's library, for the rows whose run timed them."""
    rows = {name: {**row["numpy"]["profile"], **row["numpy"].get("cell_costs", {})}  # older rows: in the profile
            for name, row in report["tasks"].items() if "profile" in row["numpy"]}
    if not rows:
        return []
    lines = ["## Where the NumPy twin's step goes", "",
             PROFILE_EXPLANATION + " Each figure is the median over rounds; the parts are shares of the "
             "profiled step (cProfile slows the Python-heavy parts a little).",
             "", profile_markdown(rows), ""]
    costs = {name: {twin: summary for twin, summary in row.items()  # twin -> its summary, where it timed them
                    if isinstance(summary, dict) and "cell_costs" in summary}
             for name, row in report["tasks"].items()}
    costs = {name: by_twin for name, by_twin in costs.items() if by_twin}
    if costs:
        lines += [CELL_COSTS_EXPLANATION, "", cell_costs_markdown(costs), ""]
    return lines


def cell_costs_markdown(rows: dict) -> str:
    """rows: shape -> twin -> its row summary (bench._summary) with "cell_costs"; a column per figure and twin
    that has them ("—" where a row's run did not time that twin), and the LSTM ops of the twins that report them."""
    twins = ordered(twin for by_twin in rows.values() for twin in by_twin)
    with_ops = [twin for twin in twins if any("lstm_ops" in by_twin.get(twin, {}) for by_twin in rows.values())]
    figures = {"tanh of the N×4H gates µs": "gate_tanh_seconds", "2 recurrent matmuls µs": "recurrent_matmuls_seconds",
               "call floor µs": "call_floor_seconds"}
    return table([{"shape": name,
                   **{f"{short(twin)} {figure}": f"{by_twin[twin]['cell_costs'][key] * 1e6:.1f}" if twin in by_twin
                      else "—" for figure, key in figures.items() for twin in twins},
                   **{f"{short(twin)} LSTM ops": ", ".join(f"`{op}`" for op in by_twin[twin]["lstm_ops"])
                      if "lstm_ops" in by_twin.get(twin, {}) else "—" for twin in with_ops}}
                  for name, by_twin in rows.items()])


def _measured_apart(report: dict) -> list[str]:
    """A line when the rows come from different `make bench` runs (a `--task` run merged in)."""
    runs = {task: (row["measured"]["date"], row["measured"]["git_commit"]) for task, row in report["tasks"].items()}
    if len(set(runs.values())) <= 1:
        return []
    return ["Rows measured in different runs: " + ", ".join(f"{task} on {date} (commit {commit})"
                                                           for task, (date, commit) in runs.items()) + "."]


def _versions(report: dict, twins: list[str]) -> str:
    """The framework twins' library versions, as their bench processes reported them."""
    found = {}
    for row in report["tasks"].values():
        for name in twins:
            if name in LIBRARIES and name != "numpy" and name in row:  # an outside twin's library is its own
                found.setdefault(name, row[name]["versions"].get(LIBRARIES[name], "?"))
    return ", ".join(f"{label(name)} {version}" for name, version in found.items())


def profile_markdown(rows: dict) -> str:
    """rows: shape -> summary(); the table of the bench page."""
    lines = []
    for name, p in rows.items():
        shares = {part: f"{seconds / p['step_seconds']:.0%}" for part, seconds in p["parts_seconds"].items()}
        other = 1 - sum(p["parts_seconds"].values()) / p["step_seconds"]
        calls = p.get("lstm_calls_per_time_step")  # rows measured before calls were counted have none
        lines.append({"shape": name, "step ms (profiled)": f"{p['step_seconds'] * 1e3:.2f}", **shares,
                      "other": f"{other:.0%}",
                      "µs per LSTM time step": f"{p['lstm_time_step_seconds'] * 1e6:.1f}",
                      "its 2 matmuls alone": f"{p['recurrent_matmuls_seconds'] * 1e6:.1f}",
                      "NumPy calls in it": f"{calls:.1f}" if calls else "—",
                      "its call floor µs": f"{calls * p['call_floor_seconds'] * 1e6:.1f}" if calls else "—",
                      "NumPy call floor µs": f"{p['call_floor_seconds'] * 1e6:.2f}"})
    return table(lines)
