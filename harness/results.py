"""Results: per-run JSON (with versions and machine), the comparison table, the learning curves."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
from pathlib import Path
from typing import Optional

from .atomic_files import write_text_atomic

RESULTS_DIR = Path(os.environ.get("LSTM_TWINS_RESULTS") or Path(__file__).resolve().parents[1] / "results")
TWIN_LABELS = {"numpy": "NumPy", "tensorflow": "TensorFlow"}


def results_folder(config_file: str | Path, quick: bool) -> Path:
    """results/<config name>/ (configs/imdb.yaml -> results/imdb/), or under results/quick/ for smoke runs."""
    return RESULTS_DIR / ("quick" if quick else "") / Path(config_file).stem


def environment() -> dict:
    """Library versions, BLAS, threads and machine, so a reader can tell why two machines differ."""
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("tensorflow", "keras"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = module.__version__
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {
        "git_commit": _git_commit(),
        "versions": versions,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ},
    }


def _git_commit() -> str:
    """The project's commit, with "+changes" when the working tree differs from it."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def current_rss_mb() -> float:
    """This process's resident memory now, in MiB (VmRSS; 0 where /proc is missing)."""
    return _proc_status_mib("VmRSS:")


def reset_peak_rss() -> None:
    """Start a new peak-memory window (Linux: writing 5 to /proc/self/clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass


def _proc_status_mib(field: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    Linux: VmHWM of /proc/self/status. (getrusage's ru_maxrss is no use in a child process:
    it starts from the parent's peak at fork time.) Elsewhere: ru_maxrss.
    """
    peak = _proc_status_mib("VmHWM:")
    if peak:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_runs(folder: Path) -> dict[str, dict]:
    """{twin: run} for the JSON files present in folder."""
    runs = {}
    for twin in TWIN_LABELS:
        path = folder / f"{twin}.json"
        if path.exists():
            runs[twin] = json.loads(path.read_text(encoding="utf-8"))
    return runs


def comparison_table(runs: dict[str, dict]) -> str:
    """A Markdown table: one row per twin, final-epoch figures."""
    metric = next(iter(runs.values()))["metric"]
    if metric == "perplexity":
        columns = [("test perplexity", "test", "perplexity"), ("train perplexity", "train", "perplexity"),
                   ("valid perplexity", "valid", "perplexity"), ("train loss", "train", "loss")]
    else:
        columns = [("test accuracy", "test", "accuracy"), ("train accuracy", "train", "accuracy"),
                   ("train loss", "train", "loss"), ("valid accuracy", "valid", "accuracy")]
    header = ["Model", *[c[0] for c in columns], "epochs", "s/epoch", "samples/s", "peak MiB", "status"]  # medians
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for twin, run in runs.items():
        history = run["history"]
        if not history:
            cells = ["—"] * len(columns) + ["0", "—", "—", "—"]
        else:
            last = history[-1]
            cells = [_format(last[split][key], key) for _, split, key in columns]
            seconds = statistics.median(e["seconds"] for e in history)
            speed = statistics.median(e["samples_per_second"] for e in history)
            cells += [str(len(history)), f"{seconds:.1f}", f"{speed:,.0f}", f"{run['peak_memory_mib']:.0f}"]
        lines.append(f"| {TWIN_LABELS[twin]} | " + " | ".join(cells) + f" | {run['status']} |")
    return "\n".join(lines)


def _format(value: float, key: str) -> str:
    if key == "accuracy":
        return f"{100 * value:.2f} %"
    return f"{value:.2f}" if key == "perplexity" else f"{value:.4f}"


def comparison_markdown(runs: dict[str, dict]) -> str:
    first = next(iter(runs.values()))
    task = first["task"]
    quick = " (quick smoke run: a small subset, not a result)" if first["quick"] else ""
    sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
    lines = [
        f"# {task}: NumPy twin vs TensorFlow twin{quick}",
        "",
        f"Config `{first['config_file']}`, seed {first['config']['seed']}; data split: {sizes}.",
        "Figures are from the last epoch; s/epoch and samples/s are training-only medians over epochs.",
        "Generated by `python -m harness compare` from the JSON files beside it; do not edit.",
        "",
        comparison_table(runs),
        "",
    ]
    for twin, run in runs.items():
        if run["status"] != "complete":
            lines.append(f"- {TWIN_LABELS[twin]} {run['status']}: {run.get('message', '')}")
    return "\n".join(lines) + "\n"


def plot_curves(path: Path, runs: dict[str, dict]) -> Optional[Path]:
    """Both twins' loss and metric per epoch, one figure with two panels, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = next(iter(runs.values()))["metric"]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    looks = {"numpy": dict(color="tab:blue", marker="o", linewidth=3, alpha=0.6),
             "tensorflow": dict(color="tab:orange", marker="x", linewidth=1.2)}  # drawn on top: both stay visible
    for twin, run in runs.items():
        epochs = [e["epoch"] for e in run["history"]]
        for split, style in (("train", "-"), ("valid", "--")):
            label = f"{TWIN_LABELS[twin]} {split}"
            for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
                ax.plot(epochs, [e[split][key] for e in run["history"]], linestyle=style, label=label, **looks[twin])
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_metric.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
    if metric == "perplexity":
        ax_metric.set_yscale("log")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_comparison(folder: Path) -> list[Path]:
    """comparison.md and curves.png from the twins' JSON files in folder."""
    runs = read_runs(folder)
    if not runs:
        return []
    return [write_text_atomic(folder / "comparison.md", comparison_markdown(runs)),
            plot_curves(folder / "curves.png", runs)]
