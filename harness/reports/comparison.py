"""The comparison of one config's runs: its tables, per-seed gaps, what failed, and its page (comparison.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..atomic_files import write_text_atomic
from ..twins import DEFAULT, REFERENCE, label, ordered
from .curves import plot_curves
from .markdown import table
from .runs import epochs_table, read_runs, runs_table, stretches


@dataclass
class Comparison:
    """What the tables of one folder show: its runs of one settings digest, and what became of every
    (twin, seed) expected. Means, gaps and curves use the complete runs only.

    failed: (twin, seed) -> why, for runs that ended without a record (killed, crashed) in the
    comparison that writes the page; a record such a run left from before is not shown in its place.
    """

    runs: list[dict]  # the digest's runs with a record (complete or diverged), failed ones excluded
    seeds: list[int]
    failed: dict[tuple[str, int], str] = field(default_factory=dict)
    others: int = 0  # runs in the folder of other settings: never in the tables

    @classmethod
    def of(cls, runs: list[dict], digest: str, seeds=(), failed=None) -> "Comparison":
        failed = failed or {}
        mine = [r for r in runs if r.get("settings_digest") == digest]
        kept = [r for r in mine if (r["twin"], r["config"]["seed"]) not in failed]
        seeds = sorted({*seeds, *(r["config"]["seed"] for r in mine), *(seed for _, seed in failed)})
        return cls(kept, seeds, failed, len(runs) - len(mine))

    @property
    def twins(self) -> list[str]:
        """The twins its tables show, in the registry's order: the default pair, and any other with a run
        (or a failed run) of these settings."""
        present = {r["twin"] for r in self.runs} | {twin for twin, _ in self.failed}
        return ordered({*DEFAULT, *present})

    def complete(self, twin: Optional[str] = None) -> list[dict]:
        return [r for r in self.runs if r["status"] == "complete" and twin in (None, r["twin"])]

    def outcomes(self, twin: str) -> dict[int, str]:
        """seed -> "complete", "diverged" (or another status), "failed" or "missing"."""
        statuses = {r["config"]["seed"]: r["status"] for r in self.runs if r["twin"] == twin}
        return {seed: "failed" if (twin, seed) in self.failed else statuses.get(seed, "missing") for seed in self.seeds}


def load_comparison(folder: Path, digest: str, seeds=(), failed=None) -> Comparison:
    """The Comparison of folder's runs of `digest`."""
    return Comparison.of(read_runs(folder) if folder.exists() else [], digest, seeds, failed)


def comparison_table(comparison: Comparison) -> str:
    """A Markdown table, one row per twin: last-epoch figures, mean ± sample std over its complete seeds."""
    metric = next((r["metric"] for r in comparison.runs), "accuracy")
    if metric == "perplexity":
        columns = [("test perplexity", "test", "perplexity"), ("train perplexity", "train", "perplexity"),
                   ("valid perplexity", "valid", "perplexity"), ("train loss", "train", "loss")]
    else:
        columns = [("test accuracy", "test", "accuracy"), ("train accuracy", "train", "accuracy"),
                   ("train loss", "train", "loss"), ("valid accuracy", "valid", "accuracy")]
    runs, epochs = runs_table(comparison.complete()), epochs_table(comparison.complete())
    rows = []
    for twin in comparison.twins:
        mine, every = _of(runs, twin), _of(epochs, twin)  # every: all epochs of all seeds, for the medians
        row = {"Model": label(twin), "seeds": str(len(mine))}
        if len(mine):
            row.update({name: _format(mine[f"{split}_{key}"], key) for name, split, key in columns})
            scored = mine["test_scored"].dropna() if "test_scored" in mine else mine["seed"][:0]
            unrecorded = ["—"] if len(scored) < len(mine) else []  # runs from before the count was kept
            peaks = mine["peak_rss_mib"].dropna()
            row.update({
                "test scored": "/".join([f"{n:,}" for n in sorted(set(scored.astype(int)))] + unrecorded),
                "epochs": "/".join(map(str, sorted(set(mine["epochs"])))),
                "s/epoch": f"{every['seconds'].median():.1f}",
                "samples/s": f"{every['samples_per_second'].median():,.0f}",
                "peak MiB": f"{peaks.max():,.0f}" if len(peaks) else "—",
            })
        else:
            row.update({name: "—" for name in [c[0] for c in columns] + ["test scored", "epochs", "s/epoch",
                                                                        "samples/s", "peak MiB"]})
        rows.append({**row, "status": _status(comparison.outcomes(twin))})
    return table(rows)


def _of(frame, twin: str):
    """The rows of one twin (an empty frame has no columns to select on)."""
    return frame[frame["twin"] == twin] if len(frame) else frame


def _status(outcomes: dict[int, str]) -> str:
    """"complete", "3 complete", "2 complete, 1 missing (seed 44)", "failed (seed 42)"."""
    by_status: dict[str, list[int]] = {}
    for seed, status in outcomes.items():
        by_status.setdefault(status, []).append(seed)
    parts = []
    for status, seeds in sorted(by_status.items(), key=lambda item: item[0] != "complete"):
        count = f"{len(seeds)} " if len(outcomes) > 1 else ""
        which = "" if status == "complete" else f" (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))})"
        parts.append(f"{count}{status}{which}")
    return ", ".join(parts)


def _format(values, key: str) -> str:
    """One value, or the mean ± sample standard deviation of several (a pandas Series, or a list)."""
    import pandas as pd

    values = pd.Series(values, dtype=float)
    scale, unit, digits = {"accuracy": (100, " %", 2), "perplexity": (1, "", 2)}.get(key, (1, "", 4))
    mean = scale * values.mean()
    if len(values) == 1:
        return f"{mean:.{digits}f}{unit}"
    return f"{mean:.{digits}f} ± {scale * values.std():.{digits}f}{unit}"  # pandas' std: the sample's (n − 1)


def agreement(comparison: Comparison, twin: str = "numpy", reference: str = REFERENCE) -> list[dict]:
    """Per seed both `twin` and the reference completed: their test metric and the gap (accuracy points, or
    perplexity % of the reference's), as {"seed", twin, reference, "gap"}."""
    runs = runs_table(comparison.complete())
    if not len(runs):
        return []
    metric = _metric(comparison)
    every = runs.pivot(index="seed", columns="twin", values=f"test_{metric}")
    if twin not in every.columns or reference not in every.columns:
        return []
    both = every[[twin, reference]].dropna()
    gaps = 100 * (both[twin] - both[reference]).abs()
    if metric == "perplexity":
        gaps = gaps / both[reference]
    return [{"seed": int(seed), twin: float(row[twin]), reference: float(row[reference]), "gap": float(gaps[seed])}
            for seed, row in both.sort_index().iterrows()]


def _against_reference(comparison: Comparison) -> dict[str, list[dict]]:
    """agreement() of every twin shown but the reference that has any: twin -> its rows."""
    found = {twin: agreement(comparison, twin) for twin in comparison.twins if twin != REFERENCE}
    return {twin: rows for twin, rows in found.items() if rows}


def _metric(comparison: Comparison) -> str:
    return comparison.runs[0]["metric"]


def agreement_line(comparison: Comparison) -> str:
    """One sentence per twin: its largest gap to the reference on test over the seeds both completed."""
    sentences = []
    for twin, rows in _against_reference(comparison).items():
        worst = max(rows, key=lambda row: row["gap"])
        unit = "% relative perplexity" if _metric(comparison) == "perplexity" else "points of accuracy"
        sentences.append(f"Largest test gap |{label(twin)} − {label(REFERENCE)}| over {len(rows)} "
                         f"seed{'s' * (len(rows) > 1)}: {worst['gap']:.2f} {unit} (seed {worst['seed']}).")
    return " ".join(sentences)


def _per_seed_table(comparison: Comparison, gaps: dict[str, list[dict]]) -> str:
    """Each seed's test figure of every twin with a gap and of the reference, and each gap ("—": no run)."""
    metric = _metric(comparison)
    unit = "% of TF" if metric == "perplexity" else "points"
    by_seed: dict[int, dict] = {}
    for twin, rows in gaps.items():
        for r in rows:
            cells = by_seed.setdefault(r["seed"], {})
            cells.update({twin: r[twin], REFERENCE: r[REFERENCE], f"gap {twin}": r["gap"]})
    shown = [twin for twin in comparison.twins if twin in gaps or twin == REFERENCE]
    gap_name = {twin: f"gap ({unit})" if len(gaps) == 1 else f"{label(twin)} gap ({unit})" for twin in gaps}
    return table([{"seed": str(seed),
                   **{label(twin): _format([cells[twin]], metric) if twin in cells else "—" for twin in shown},
                   **{gap_name[twin]: f"{cells[f'gap {twin}']:.2f}" if f"gap {twin}" in cells else "—"
                      for twin in gaps}}
                  for seed, cells in sorted(by_seed.items())])


def comparison_markdown(comparison: Comparison, name: str) -> str:
    """The page of one config's folder (`name`): what was run, the table, per-seed gaps, what failed."""
    if not comparison.runs:
        lines = [f"# {name}: no run finished", "", comparison_table(comparison), ""]
    else:
        first = comparison.runs[0]
        quick = " (quick smoke run: a small subset, not a result)" if first["quick"] else ""
        sizes = ", ".join(f"{k} {v:,}" for k, v in first["split_sizes"].items())
        lines = [
            f"# {first['task']}: {' vs '.join(f'{label(twin)} twin' for twin in comparison.twins)}{quick}",
            "",
            f"Config `{first['config_file']}` (settings digest `{first['settings_digest']}`), seeds "
            f"{', '.join(map(str, comparison.seeds))}; data split: {sizes}.",
            "Figures are from the last epoch (mean ± sample standard deviation over the complete runs); s/epoch and "
            "samples/s are training-only medians over epochs; test scored: the test examples (or tokens) scored.",
            "Generated by `python -m harness compare` (or `sweep`) from the JSON files beside it; do not edit.",
            "",
            comparison_table(comparison),
            "",
        ]
    gaps = _against_reference(comparison)
    if gaps:
        lines += [f"Per seed, test {_metric(comparison)}:", "", _per_seed_table(comparison, gaps), ""]
    undone = [(run, [e["epoch"] for e in run["history"] if "undone" in e]) for run in comparison.complete()]
    if any(epochs for _, epochs in undone):
        first_run = undone[0][0]
        better = {"loss": "valid loss not lower", "accuracy": "valid accuracy not higher"}[
            first_run["config"]["training"].get("plateau_metric", "loss")]  # runs from before the key: loss
        lines += [f"Epochs undone ({better}: the weights went back and the learning rate was scaled by "
                  "`training.plateau_factor`; such an epoch's figures are those of the weights kept):", ""]
        lines += [f"- {label(run['twin'])} seed {run['config']['seed']}: {', '.join(map(str, epochs)) or 'none'}"
                  for run, epochs in undone]
        lines.append("")
    resumed = [(run, parts) for run in comparison.complete() if len(parts := stretches(run)) > 1]
    if resumed:
        lines += [("Runs trained in more than one process (resumed from a checkpoint), perhaps on other machines: "
                   "each stretch of epochs, its median training s/epoch, the CPU and the commit it ran on:"), ""]
        lines += [f"- {label(run['twin'])} seed {run['config']['seed']}: " + "; ".join(map(_stretch, parts))
                  for run, parts in resumed]
        lines.append("")
    for run in comparison.runs:
        if run["status"] != "complete":
            lines.append(f"- {label(run['twin'])} seed {run['config']['seed']} {run['status']}: "
                         f"{run.get('message', '')}")
    for (twin, seed), why in sorted(comparison.failed.items()):
        lines.append(f"- {label(twin)} seed {seed} failed: {why}")
    for twin in comparison.twins:
        missing = [seed for seed, status in comparison.outcomes(twin).items() if status == "missing"]
        if missing:
            lines.append(f"- {label(twin)}: no run of these settings for seed{'s' * (len(missing) > 1)} "
                         f"{', '.join(map(str, missing))}")
    if comparison.others:
        lines.append(f"- {comparison.others} run{'s' * (comparison.others > 1)} of other settings in this folder "
                     "(another settings digest): not in these figures")
    return "\n".join(lines) + "\n"


def _stretch(part: dict) -> str:
    where = (f"{part['cpu'] or 'unknown CPU'} ({part['cpus']} CPUs), commit {part['commit']}"
             if part["cpu"] is not None else "unrecorded (a process from before the record)")
    return f"epochs {part['first']}–{part['last']} at {part['seconds']:.1f} s on {where}"


def write_comparison(folder: Path, digest: str, seeds=(), failed=None) -> list[Path]:
    """comparison.md and curves.png of folder's runs of one settings digest."""
    comparison = load_comparison(folder, digest, seeds, failed)
    if not comparison.runs and not comparison.failed:
        return []
    written = [write_text_atomic(folder / "comparison.md", comparison_markdown(comparison, folder.name))]
    if comparison.complete():
        written.append(plot_curves(folder / "curves.png", comparison.complete()))
    return written
