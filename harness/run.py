"""One twin's run on one task with one seed: prepare, train, write results/<config>/<twin>-seed<N>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .atomic_files import write_json_atomic
from .config import continues, effective_config, run_digest, settings_digest
from .paths import checkpoint_folder, relative_to_project, results_folder, run_file
from .provenance import environment, peak_rss_mb
from .tasks import prepare_task
from .training import train_twin
from .twins import load


class RunConflict(RuntimeError):
    """The run's output file holds a run of other settings that this run must not replace."""


def run_twin(
    twin_name: str, config: dict, config_file: Path, epochs: Optional[int], quick: bool,
    data_root: Optional[Path], progress: bool = True, resume: bool = False,
) -> dict:
    """Train `twin_name` as `config` says (epochs: override; quick: the config's smoke subset).

    The config's seed decides the data split, initial weights and batch order. The run is written
    to results_folder(...)/<twin>-seed<N>.json, atomically, once it ends (diverged or complete),
    with its settings digest and run digest. Checkpoints after every epoch in
    <folder>/checkpoints/<twin>-seed<N>/; resume continues from the last one, and leaves a run
    whose JSON is already complete as it is (its timing, memory and commit describe the run that
    trained it). A JSON of other settings is never replaced (RunConflict), except by resuming it
    with more epochs.
    """
    output, record, trained = execute_run(twin_name, config, config_file, epochs, quick, data_root, progress, resume)
    if not trained:
        if progress:
            print(f"{twin_name}: {output} is complete; kept as it is", flush=True)
        return record
    write_json_atomic(output, record)
    if record["status"] != "complete":
        print(f"{twin_name}: {record['status']}: {record.get('message', '')}")
    return record


def execute_run(
    twin_name: str, config: dict, config_file: Path, epochs: Optional[int], quick: bool,
    data_root: Optional[Path], progress: bool = True, resume: bool = False,
) -> tuple[Path, dict, bool]:
    """run_twin's work but for writing its JSON (checkpoints are written): (the run's JSON file, its record,
    whether it trained now; False when resume found the run complete in that file, which it returns)."""
    config = effective_config(config, epochs, quick)
    folder = results_folder(config_file, config, quick)
    output = run_file(folder, twin_name, config["seed"])
    earlier = earlier_run(output, config, quick, resume)
    if earlier is not None:
        return output, earlier, False
    task = prepare_task(config, data_root, quick)
    twin = load(twin_name)
    machine = environment()  # before training: the commit and versions of the code this run loaded
    run = train_twin(twin, task, config, config["training"]["epochs"], progress,
                     checkpoint_folder(folder, twin_name, config["seed"]), resume)
    record = {
        "task": config["task"],
        "twin": twin_name,
        "quick": quick,
        "config_file": relative_to_project(config_file),
        "settings_digest": settings_digest(config, quick),
        "run_digest": run_digest(config, quick),
        "metric": task.metric,
        "split_sizes": task.sizes,
        "notes": task.notes,
        **run,
        "peak_rss_mib": peak_rss_mb(),
        **machine,
    }
    return output, record, True


def earlier_run(output: Path, config: dict, quick: bool, resume: bool) -> Optional[dict]:
    """The record in `output` if resume should keep it as it is (a complete run of these settings), else None.

    Raises RunConflict when it holds a run this one must not replace: one of other settings, unless
    resume continues it (the same settings but fewer epochs: this run's first epochs are that run's).
    """
    try:
        record = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise RunConflict(f"{output} holds something that is not a run record; move it away (or delete it)")
    theirs = record.get("run_digest") or run_digest(record["config"], record.get("quick", False))
    if theirs == run_digest(config, quick):
        return record if resume and record.get("status") == "complete" else None
    if resume and record.get("quick", False) == quick and continues(config, record["config"]):
        return None
    raise RunConflict(
        f"{output} holds a run of other settings (run digest {theirs}, {len(record.get('history', []))} epochs, "
        f"from {record.get('config_file', '?')}); this run's is {run_digest(config, quick)}. Move that file "
        "away (or delete it) to replace it"
    )
