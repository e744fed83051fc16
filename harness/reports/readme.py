"""`make readme`: rewrite the README's result section, between markers, from results/*/*.json."""

from __future__ import annotations

import statistics
from pathlib import Path

from ..atomic_files import write_text_atomic
from ..paths import CONFIG_DIR, PROJECT_RESULTS, PROJECT_ROOT, README
from ..recipe.config import file_digest, load_config
from ..recipe.tasks import TASKS
from ..twins import label, ordered
from .bench_page import bench_markdown, bench_summary, is_bench
from .comparison import Comparison, agreement_line, comparison_table, load_comparison
from .runs import read_json, stretches, with_keys, write_runs_csv
from .sweep_page import sweeps_table

START, END = "<!-- results:start -->", "<!-- results:end -->"


def results_section(results_dir: Path = PROJECT_RESULTS, config_dir: Path = CONFIG_DIR) -> str:
    """For each task, one table per project config (configs/<name>.yaml) with runs in results/<name>/.

    A table shows only the runs of the config as it is now (its settings digest); runs of other
    settings in the folder are counted beside it, never averaged in.
    """
    parts = []
    for task in TASKS:
        parts.append(f"### {TASKS[task].title}\n")
        shown = 0
        for path in sorted(config_dir.glob("*.yaml")):
            if load_config(path)["task"] != task:
                continue
            comparison = load_comparison(results_dir / path.stem, file_digest(path))
            if comparison.runs:
                shown += 1
                parts.append(f"{_run_summary(path.stem, comparison)}\n\n{comparison_table(comparison)}\n")
        if not shown:
            parts.append(f"No full run committed yet (`make compare TASK={task}`).\n")
    bench = read_json([results_dir / "bench.json"] if (results_dir / "bench.json").exists() else [], is_bench)
    for report in bench.values():
        parts.append(f"### Speed\n\n{bench_summary(report)} Details: [`results/bench.md`](results/bench.md).\n\n"
                     + bench_markdown(report) + "\n")
    sweeps = {path.stem: report for path, report in read_json(
        sorted(results_dir.glob("sweeps/*.json")), with_keys(
        "runs", "outcomes", "pool", "threads_per_run", "wall_seconds", "git_commit", "date")).items()}
    if sweeps:
        parts.append("### Sweeps\n\nWall time of the committed sweeps (`.venv/bin/python -m harness sweep ... --report "
                     "results/sweeps/NAME.json`; each run's table in `results/sweeps/NAME.md`).\n\n"
                     + sweeps_table(sweeps) + "\n")
    return "\n".join(parts)


def _run_summary(name: str, comparison: Comparison) -> str:
    """The config (its header comment says what it is), split, seeds, epochs, wall time, agreement."""
    first = comparison.runs[0]
    sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
    wall = []
    for twin in ordered(r["twin"] for r in comparison.complete()):
        minutes = [sum(e["seconds"] for e in r["history"]) / 60 for r in comparison.complete(twin)]
        wall.append(f"{label(twin)} {statistics.fmean(minutes):.1f} min")
    in_parts = [f"{label(r['twin'])} seed {r['config']['seed']} in {parts}"
                for r in comparison.complete() if (parts := len(stretches(r))) > 1]
    resumed = (f"Trained in more than one process (resumed): {', '.join(in_parts)}; the comparison page says on "
               "which CPU each stretch of epochs ran. ") if in_parts else ""
    epochs = sorted({len(r["history"]) for r in comparison.complete()})
    others = f" ({comparison.others} runs of other settings in the folder are left out.)" if comparison.others else ""
    return (
        f"**`{first['config_file']}`**: {config_comment(first['config_file'])}\n\n"
        f"Split: {sizes}. Seeds: {', '.join(map(str, comparison.seeds))}. Epochs: {'/'.join(map(str, epochs))}. "
        f"Training time per seed (evaluation excluded): {', '.join(wall) or 'none complete'}. "
        f"{resumed}{agreement_line(comparison)} "
        f"Details and curves: [`results/{name}/comparison.md`](results/{name}/comparison.md)."
        f"{others}"
    )


def config_comment(config_file: str) -> str:
    """The comment lines at the top of a config file, joined into one paragraph ("" if none or missing)."""
    path = PROJECT_ROOT / config_file
    if not path.exists():
        return ""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def update_readme(readme: Path = README, results_dir: Path = PROJECT_RESULTS, config_dir: Path = CONFIG_DIR) -> Path:
    """Rewrite the README's result section, and results/runs.csv, from the run files."""
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    if results_dir.is_dir():
        write_runs_csv(results_dir)
    return write_text_atomic(readme, f"{head}{START}\n{results_section(results_dir, config_dir)}{END}{tail}")
