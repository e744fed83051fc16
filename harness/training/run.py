"""One run: a request's twin trained on its task and seed, and its record, results/<config>/<twin>-seed<N>.json."""

from __future__ import annotations

import json
from typing import Optional

from ..atomic_files import write_json_atomic
from ..errors import BadInput
from ..paths import relative_to_project
from ..provenance import environment, peak_rss_mb
from ..recipe.config import continues, run_digest
from ..recipe.tasks import prepare_task
from ..twins import load
from .loop import train_epochs
from .request import RunRequest


class RunConflict(BadInput, RuntimeError):
    """The run's output file holds a run of other settings that this run must not replace."""


def run_and_write(request: RunRequest, progress: bool = True) -> dict:
    """Run the request (`run`) and write its record to request.output, atomically, once it ends
    (diverged or complete); a run that resume found complete is kept as it is. Returns the record."""
    record, trained = run(request, progress)
    if not trained:
        if progress:
            print(f"{request.twin}: {request.output} is complete; kept as it is", flush=True)
        return record
    write_json_atomic(request.output, record)
    if record["status"] != "complete":
        print(f"{request.twin}: {record['status']}: {record.get('message', '')}")
    return record


def run(request: RunRequest, progress: bool = True) -> tuple[dict, bool]:
    """Train the request's twin as its config says: (its record, whether it trained now; False when
    resume found the run complete in request.output, whose record it returns). Writes checkpoints, not the JSON.

    The config's seed decides the data split, initial weights and batch order. Checkpoints after
    every epoch in request.checkpoints; resume continues from the last one, and leaves a run whose
    JSON is already complete as it is (its timing, memory and commit describe the run that trained
    it). A JSON of other settings is never replaced (RunConflict), except by resuming it with more epochs.
    """
    earlier = earlier_run(request)
    if earlier is not None:
        return earlier, False
    config = request.config
    task = prepare_task(config, request.data_dir, request.quick)
    twin = load(request.twin_source or request.twin)
    machine = environment()  # before training: the commit and versions of the code this run loaded
    trained = train_epochs(twin, task, config, config["training"]["epochs"], progress, request.checkpoints,
                           request.resume, machine)
    record = {
        "task": config["task"],
        "twin": request.twin,
        "quick": request.quick,
        "config_file": relative_to_project(request.config_file),
        "settings_digest": request.settings_digest,
        "run_digest": request.run_digest,
        "metric": task.metric,
        "split_sizes": task.sizes,
        "notes": task.notes,
        **trained,
        "peak_rss_mib": peak_rss_mb(),
        **machine,
    }
    return record, True


def earlier_run(request: RunRequest) -> Optional[dict]:
    """The record in request.output if resume should keep it as it is (a complete run of these settings), else None.

    Raises RunConflict when it holds a run this one must not replace: one of other settings, unless
    resume continues it (the same settings but fewer epochs: this run's first epochs are that run's).
    """
    output, quick = request.output, request.quick
    try:
        record = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise RunConflict(f"{output} holds something that is not a run record; move it away (or delete it)")
    theirs = record.get("run_digest") or run_digest(record["config"], record.get("quick", False))
    if theirs == request.run_digest:
        return record if request.resume and record.get("status") == "complete" else None
    if request.resume and record.get("quick", False) == quick and continues(request.config, record["config"]):
        return None
    raise RunConflict(
        f"{output} holds a run of other settings (run digest {theirs}, {len(record.get('history', []))} epochs, "
        f"from {record.get('config_file', '?')}); this run's is {request.run_digest}. Move that file "
        "away (or delete it) to replace it"
    )
