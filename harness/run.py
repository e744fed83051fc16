"""One twin's run on one task with one seed: prepare, train, write results/<config>/<twin>-seed<N>.json."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Optional

from .atomic_files import write_json_atomic
from .results import current_rss_mb, environment, peak_rss_mb, reset_peak_rss, results_folder, run_file
from .tasks import prepare_task
from .training import train_twin

TWIN_MODULES = {"numpy": "impl_numpy", "tensorflow": "impl_tensorflow"}


def run_twin(
    twin_name: str, config: dict, config_file: Path, epochs: Optional[int], quick: bool,
    data_root: Optional[Path], progress: bool = True, resume: bool = False,
) -> dict:
    """Train `twin_name` as `config` says (epochs: override; quick: the config's smoke subset).

    The config's seed decides the data split, initial weights and batch order.
    Checkpoints after every epoch in results/<config>/checkpoints/<twin>-seed<N>/; resume continues
    from the last one, and leaves a run whose JSON is already complete as it is (its timing,
    memory and commit describe the run that trained it). The JSON is written atomically once
    the run ends, diverged or complete.
    """
    epochs = epochs or config["quick" if quick else "training"]["epochs"]
    folder = results_folder(config_file, quick)
    output = run_file(folder, twin_name, config["seed"])
    finished = _finished_run(output, config, epochs) if resume else None
    if finished is not None:
        if progress:
            print(f"{twin_name}: {output} is complete; kept as it is", flush=True)
        return finished
    task = prepare_task(config, data_root, quick)
    twin = importlib.import_module(TWIN_MODULES[twin_name])
    machine = environment()  # before training: the commit and versions of the code this run loaded
    reset_peak_rss()  # the window starts now: loading the data may have peaked higher
    baseline = current_rss_mb()
    run = train_twin(twin, task, config, epochs, progress, folder / "checkpoints" / output.stem, resume)
    record = {
        "task": config["task"],
        "twin": twin_name,
        "quick": quick,
        "config_file": relative_to_project(config_file),
        "metric": task.metric,
        "split_sizes": task.sizes,
        "notes": task.notes,
        **run,
        "peak_memory_mib": peak_rss_mb() - baseline,
        **machine,
    }
    write_json_atomic(output, record)
    if run["status"] != "complete":
        print(f"{twin_name}: {run['status']}: {run.get('message', '')}")
    return record


def _finished_run(output: Path, config: dict, epochs: int) -> Optional[dict]:
    """The record in `output` if it is a complete run of `config` over `epochs` epochs, else None."""
    try:
        record = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    done = record.get("status") == "complete" and record.get("config") == config
    return record if done and len(record.get("history", [])) == epochs else None


def relative_to_project(path: Path) -> str:
    """path relative to the project root where it lies inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)
