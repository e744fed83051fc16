"""`make readme`: rewrite the README's result section, between markers, from results/*/*.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .atomic_files import write_text_atomic
from .bench import bench_markdown
from .config import TASKS
from .results import RESULTS_DIR, TWIN_LABELS, agreement_line, comparison_table, read_runs

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
TITLES = {
    "mnist": "MNIST (rows of pixels as a sequence)",
    "imdb": "IMDB sentiment",
    "ptb_lm": "Penn Treebank language model",
    "ptb_pos": "Penn Treebank POS tagging",
}


def results_section(results_dir: Path = RESULTS_DIR) -> str:
    """For each task, one table per config with committed (non-quick) results."""
    folders = sorted(p for p in results_dir.iterdir() if p.is_dir() and p.name != "quick") if results_dir.exists() else []
    all_runs = {folder.name: runs for folder in folders if (runs := read_runs(folder))}
    parts = []
    for task in TASKS:
        parts.append(f"### {TITLES[task]}\n")
        task_runs = {name: runs for name, runs in all_runs.items() if runs[0]["task"] == task}
        if not task_runs:
            parts.append(f"No full run committed yet (`make compare TASK={task}`).\n")
        for name, runs in task_runs.items():
            parts.append(f"{_run_summary(name, runs)}\n\n{comparison_table(runs)}\n")
    bench = results_dir / "bench.json"
    if bench.exists():
        report = json.loads(bench.read_text(encoding="utf-8"))
        parts.append(
            "### Speed\n\nTraining steps of both twins on each task's shape, timed side by side in one process "
            f"by `make bench` (float32; this machine's GEMM throughput: {report['gemm_gflops']:.1f} GFLOP/s). "
            "Details: [`results/bench.md`](results/bench.md).\n\n" + bench_markdown(report) + "\n"
        )
    return "\n".join(parts)


def _run_summary(name: str, runs: list[dict]) -> str:
    """The config (its header comment says what it is), split, seeds, epochs, wall time, agreement."""
    first = runs[0]
    sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
    seeds = sorted({r["config"]["seed"] for r in runs})
    wall = []
    for twin, label in TWIN_LABELS.items():
        minutes = [sum(e["seconds"] for e in r["history"]) / 60 for r in runs if r["twin"] == twin]
        if minutes:
            wall.append(f"{label} {statistics.fmean(minutes):.1f} min")
    epochs = sorted({len(r["history"]) for r in runs})
    return (
        f"**`{first['config_file']}`**: {config_comment(first['config_file'])}\n\n"
        f"Split: {sizes}. Seeds: {', '.join(map(str, seeds))}. Epochs: {'/'.join(map(str, epochs))}. "
        f"Training time per seed (evaluation excluded): {', '.join(wall)}. {agreement_line(runs)} "
        f"Details and curves: [`results/{name}/comparison.md`](results/{name}/comparison.md)."
    )


def config_comment(config_file: str) -> str:
    """The comment lines at the top of a config file, joined into one paragraph ("" if none or missing)."""
    path = ROOT / config_file
    if not path.exists():
        return ""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def update_readme(readme: Path = README, results_dir: Path = RESULTS_DIR) -> Path:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return write_text_atomic(readme, f"{head}{START}\n{results_section(results_dir)}{END}{tail}")
