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


def run_file(folder: Path, twin: str, seed: int) -> Path:
    """Where one twin's run with one seed is written: <folder>/<twin>-seed<seed>.json."""
    return folder / f"{twin}-seed{seed}.json"


def read_runs(folder: Path) -> list[dict]:
    """The runs written in folder, by seed, NumPy before TensorFlow."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*-seed*.json")]
    return sorted(runs, key=lambda r: (r["config"]["seed"], list(TWIN_LABELS).index(r["twin"])))


def comparison_table(runs: list[dict]) -> str:
    """A Markdown table, one row per twin: last-epoch figures, mean ± sample std over its seeds."""
    metric = runs[0]["metric"]
    if metric == "perplexity":
        columns = [("test perplexity", "test", "perplexity"), ("train perplexity", "train", "perplexity"),
                   ("valid perplexity", "valid", "perplexity"), ("train loss", "train", "loss")]
    else:
        columns = [("test accuracy", "test", "accuracy"), ("train accuracy", "train", "accuracy"),
                   ("train loss", "train", "loss"), ("valid accuracy", "valid", "accuracy")]
    header = ["Model", "seeds", *[c[0] for c in columns], "epochs", "s/epoch", "samples/s", "peak MiB", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for twin, label in TWIN_LABELS.items():
        mine = [r for r in runs if r["twin"] == twin]
        if not mine:
            continue
        trained = [r for r in mine if r["history"]]
        cells = [str(len(mine))]
        if not trained:
            cells += ["—"] * len(columns) + ["0", "—", "—", "—"]
        else:
            cells += [_format([r["history"][-1][split][key] for r in trained], key) for _, split, key in columns]
            epochs = sorted({len(r["history"]) for r in trained})
            every = [e for r in trained for e in r["history"]]  # s/epoch and samples/s: medians over all epochs
            cells += ["/".join(map(str, epochs)), f"{statistics.median(e['seconds'] for e in every):.1f}",
                      f"{statistics.median(e['samples_per_second'] for e in every):,.0f}",
                      f"{max(r['peak_memory_mib'] for r in mine):.0f}"]
        statuses = [r["status"] for r in mine]
        status = ", ".join(f"{statuses.count(s)} {s}" if len(mine) > 1 else s for s in dict.fromkeys(statuses))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {status} |")
    return "\n".join(lines)


def _format(values: list[float], key: str) -> str:
    """One value, or the mean ± sample standard deviation of several."""
    scale, unit, digits = {"accuracy": (100, " %", 2), "perplexity": (1, "", 2)}.get(key, (1, "", 4))
    mean = scale * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}{unit}"
    return f"{mean:.{digits}f} ± {scale * statistics.stdev(values):.{digits}f}{unit}"


def agreement(runs: list[dict]) -> list[dict]:
    """Per seed run by both twins: their test metric and the gap (accuracy points, or perplexity %)."""
    metric = runs[0]["metric"]
    by_seed: dict[int, dict] = {}
    for run in runs:
        if run["history"]:
            by_seed.setdefault(run["config"]["seed"], {})[run["twin"]] = run["history"][-1]["test"][metric]
    rows = []
    for seed, values in sorted(by_seed.items()):
        if len(values) == len(TWIN_LABELS):
            a, b = values["numpy"], values["tensorflow"]
            gap = 100 * abs(a - b) / b if metric == "perplexity" else 100 * abs(a - b)
            rows.append({"seed": seed, "numpy": a, "tensorflow": b, "gap": gap})
    return rows


def agreement_line(runs: list[dict]) -> str:
    """One sentence: the largest gap between the twins on test over the seeds both ran."""
    rows = agreement(runs)
    if not rows:
        return ""
    worst = max(rows, key=lambda row: row["gap"])
    unit = "% relative perplexity" if runs[0]["metric"] == "perplexity" else "points of accuracy"
    return (f"Largest test gap |NumPy − TensorFlow| over {len(rows)} seed{'s' * (len(rows) > 1)}: "
            f"{worst['gap']:.2f} {unit} (seed {worst['seed']}).")


def comparison_markdown(runs: list[dict]) -> str:
    first = runs[0]
    task = first["task"]
    quick = " (quick smoke run: a small subset, not a result)" if first["quick"] else ""
    sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
    seeds = sorted({r["config"]["seed"] for r in runs})
    lines = [
        f"# {task}: NumPy twin vs TensorFlow twin{quick}",
        "",
        f"Config `{first['config_file']}`, seeds {', '.join(map(str, seeds))}; data split: {sizes}.",
        "Figures are from the last epoch (mean ± sample standard deviation over seeds); s/epoch and samples/s are "
        "training-only medians over epochs.",
        "Generated by `python -m harness compare` from the JSON files beside it; do not edit.",
        "",
        comparison_table(runs),
        "",
    ]
    rows = agreement(runs)
    if rows:
        metric = first["metric"]
        gap = "gap (% of TF)" if metric == "perplexity" else "gap (points)"
        lines += [f"Per seed, test {metric}:", "", f"| seed | NumPy | TensorFlow | {gap} |", "|---|---|---|---|"]
        lines += [f"| {r['seed']} | {_format([r['numpy']], metric)} | {_format([r['tensorflow']], metric)} | "
                  f"{r['gap']:.2f} |" for r in rows]
        lines.append("")
    undone = [(run, [e["epoch"] for e in run["history"] if "undone" in e]) for run in runs]
    if any(epochs for _, epochs in undone):
        lines += ["Epochs undone (valid loss not lower: the weights went back and the learning rate was scaled by "
                  "`training.plateau_factor`; such an epoch's figures are those of the weights kept):", ""]
        lines += [f"- {TWIN_LABELS[run['twin']]} seed {run['config']['seed']}: {', '.join(map(str, epochs)) or 'none'}"
                  for run, epochs in undone]
        lines.append("")
    for run in runs:
        if run["status"] != "complete":
            lines.append(f"- {TWIN_LABELS[run['twin']]} seed {run['config']['seed']} {run['status']}: "
                         f"{run.get('message', '')}")
    return "\n".join(lines) + "\n"


def plot_curves(path: Path, runs: list[dict]) -> Optional[Path]:
    """Both twins' loss and metric per epoch (mean over seeds, band from min to max), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metric = runs[0]["metric"]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    looks = {"numpy": dict(color="tab:blue", marker="o", linewidth=3, alpha=0.6),
             "tensorflow": dict(color="tab:orange", marker="x", linewidth=1.2)}  # drawn on top: both stay visible
    for twin, label in TWIN_LABELS.items():
        histories = [r["history"] for r in runs if r["twin"] == twin and r["history"]]
        if not histories:
            continue
        epochs = min(len(h) for h in histories)  # the epochs every seed reached
        x = np.arange(1, epochs + 1)
        seeds = f" ({len(histories)} seeds)" if len(histories) > 1 else ""
        for split, style in (("train", "-"), ("valid", "--")):
            for ax, key in ((ax_loss, "loss"), (ax_metric, metric)):
                values = np.array([[e[split][key] for e in h[:epochs]] for h in histories])
                ax.plot(x, values.mean(axis=0), linestyle=style, label=f"{label} {split}{seeds}", **looks[twin])
                if len(histories) > 1:
                    ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=looks[twin]["color"], alpha=0.15)
        undone = [(e["epoch"], e["undone"]["valid"]) for h in histories for e in h[:epochs] if "undone" in e]
        for ax, key in ((ax_loss, "loss"), (ax_metric, metric)) if undone else ():
            ax.scatter([epoch for epoch, _ in undone], [valid[key] for _, valid in undone], marker="v",
                       facecolors="none", edgecolors=looks[twin]["color"], label=f"{label} valid, epoch undone")
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
