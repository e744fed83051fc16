"""The runs as tidy data: every run file of a folder, one row per run or per epoch (pandas), and results/runs.csv."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Callable, Iterable

from ..atomic_files import write_text_atomic
from ..twins import ordered


def read_json(files: Iterable[Path], usable: Callable[[object], bool] = lambda data: True) -> dict[Path, object]:
    """Each file's JSON, in order; a file that cannot be read, is not JSON or is not `usable` is named in one
    line on stderr and left out (it is no record of anything shown), and the others go on."""
    found = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            why = getattr(error, "strerror", None) or str(error).splitlines()[0]
        else:
            if usable(data):
                found[path] = data
                continue
            why = "not the record expected there"
        print(f"warning: skipped {path}: {why}; move it away (or delete it) to silence this", file=sys.stderr)
    return found


def with_keys(*keys: str) -> Callable[[object], bool]:
    """A `usable` test for read_json: a mapping with these keys."""
    return lambda data: isinstance(data, dict) and all(key in data for key in keys)


def is_run(data) -> bool:
    """Whether JSON read from a run file is a run record as `train` writes it (the keys the pages read)."""
    return (isinstance(data, dict) and isinstance(data.get("twin"), str) and bool(data["twin"])
            and isinstance(data.get("config"), dict) and isinstance(data["config"].get("seed"), int)
            and isinstance(data.get("history"), list) and isinstance(data.get("status"), str)
            and all(isinstance(e, dict) for e in data["history"]))


def read_runs(folder: Path) -> list[dict]:
    """Every run written in folder, by seed, then twin in the registry's order (files that are not runs named
    and skipped)."""
    runs = read_json(sorted(folder.glob("*-seed*.json")), is_run).values()
    twins = ordered(r["twin"] for r in runs)
    return sorted(runs, key=lambda r: (r["config"]["seed"], twins.index(r["twin"])))


def runs_table(runs: list[dict]):
    """The runs as a pandas DataFrame, one tidy row per run: config file, digests, task, twin, seed,
    status, epochs, every last-epoch figure ("<split>_<key>", as test_accuracy), times, memory, commit."""
    import pandas as pd

    rows = []
    for run in runs:
        last = run["history"][-1] if run["history"] else {}
        row = {"config_file": run["config_file"], "settings_digest": run.get("settings_digest"),
               "run_digest": run.get("run_digest"), "task": run["task"], "twin": run["twin"],
               "seed": run["config"]["seed"], "status": run["status"], "epochs": len(run["history"]),
               "metric": run["metric"]}
        for split in ("train", "valid", "test"):
            row.update({f"{split}_{key}": value for key, value in last.get(split, {}).items()})
        row["train_seconds"] = sum(e["seconds"] for e in run["history"])
        row["peak_rss_mib"] = run.get("peak_rss_mib")
        row["git_commit"] = run.get("git_commit")
        rows.append(row)
    return pd.DataFrame(rows)


def stretches(run: dict) -> list[dict]:
    """The run's epochs by the process that trained them: [{"first", "last", "seconds" (median training s/epoch),
    "cpu", "cpus", "commit"}], in order; "cpu" None for epochs no process record names (a run from before
    run["processes"], or the epochs before an older checkpoint it resumed). [] for a run without processes."""
    processes = run.get("processes", [])
    if not processes:
        return []
    known = [(p["first_epoch"], p) for p in processes]
    if known[0][0] > 1:
        known.insert(0, (1, {}))
    ends = [first - 1 for first, _ in known[1:]] + [len(run["history"])]
    return [{"first": first, "last": last,
             "seconds": statistics.median(e["seconds"] for e in run["history"][first - 1:last]),
             "cpu": process.get("machine", {}).get("cpu_model"), "cpus": process.get("machine", {}).get("cpus"),
             "commit": process.get("git_commit")}
            for (first, process), last in zip(known, ends) if last >= first]


def epochs_table(runs: list[dict]):
    """One row per epoch of every run: twin, seed, epoch, seconds, samples per second."""
    import pandas as pd

    return pd.DataFrame([{"twin": run["twin"], "seed": run["config"]["seed"], "epoch": e["epoch"],
                          "seconds": e["seconds"], "samples_per_second": e["samples_per_second"]}
                         for run in runs for e in run["history"]])


def runs_frame(results_dir: Path):
    """Every run under results_dir (smoke runs aside): runs_table with the folder of each."""
    import pandas as pd

    folders = sorted(p for p in results_dir.iterdir() if p.is_dir() and p.name != "quick")
    frames = [runs_table(runs).assign(folder=folder.name) for folder in folders if (runs := read_runs(folder))]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame[["folder", *[c for c in frame.columns if c != "folder"]]] if len(frame) else frame


def write_runs_csv(results_dir: Path) -> Path:
    """results/runs.csv: runs_frame as CSV, for users' own analysis."""
    return write_text_atomic(results_dir / "runs.csv", runs_frame(results_dir).to_csv(index=False))
