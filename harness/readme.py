"""`make readme`: rewrite the README's result section, between markers, from results/*/*.json."""

from __future__ import annotations

from pathlib import Path

from .atomic_files import write_text_atomic
from .config import TASKS
from .results import RESULTS_DIR, comparison_table, read_runs

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
TITLES = {
    "mnist": "MNIST (rows of pixels as a sequence)",
    "imdb": "IMDB sentiment",
    "ptb_lm": "Penn Treebank language model",
    "ptb_pos": "Penn Treebank POS tagging",
}


def results_section(results_dir: Path = RESULTS_DIR) -> str:
    """One table per task that has committed (non-quick) results."""
    parts = []
    for task in TASKS:
        runs = read_runs(results_dir / task)
        if not runs:
            parts.append(f"### {TITLES[task]}\n\nNo full run committed yet (`make compare TASK={task}`).\n")
            continue
        first = next(iter(runs.values()))
        sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
        wall = ", ".join(f"{r['twin']} {sum(e['seconds'] for e in r['history']) / 60:.1f} min" for r in runs.values())
        parts.append(
            f"### {TITLES[task]}\n\nConfig `{first['config_file']}` (seed {first['config']['seed']}); "
            f"split: {sizes}; training wall time: {wall}. "
            f"Details and curves: [`results/{task}/comparison.md`](results/{task}/comparison.md).\n\n"
            f"{comparison_table(runs)}\n"
        )
    return "\n".join(parts)


def update_readme(readme: Path = README, results_dir: Path = RESULTS_DIR) -> Path:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return write_text_atomic(readme, f"{head}{START}\n{results_section(results_dir)}{END}{tail}")
