"""The epoch loop and the evaluation: the same code for every twin."""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from twin_contract import Batch, Schedule

from ..recipe.dropout import with_dropout
from ..recipe.tasks import TaskData, batch_digest
from .checkpoints import load_checkpoint, save_checkpoint

SPLITS = ("train", "valid", "test")


def evaluate(twin, model, batches: list[Batch], carries_state: bool) -> dict[str, float]:
    """Token-weighted mean loss over the batches, accuracy, perplexity and the number of predictions scored."""
    total_loss = correct = tokens = 0.0
    state = None
    for batch in batches:
        logits, loss, final = twin.predict(model, batch, state)
        state = final if carries_state else None
        mask = np.ones(batch.targets.shape, bool) if batch.mask is None or batch.targets.ndim == 1 else batch.mask
        n = int(mask.sum())
        total_loss += loss * n
        correct += int(((logits.argmax(axis=-1) == batch.targets) & mask).sum())
        tokens += n
    mean = total_loss / tokens
    return {"loss": mean, "accuracy": correct / tokens, "perplexity": math.exp(min(mean, 700.0)), "scored": int(tokens)}


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.hexdigest()[:16]


class Diverged(Exception):
    """A training epoch that went wrong; the message says where."""


def train_epochs(
    twin, task: TaskData, config: dict, epochs: int, progress: bool = True,
    checkpoints: Optional[Path] = None, resume: bool = False, provenance: Optional[dict] = None,
) -> dict:
    """Train one twin from the task's initial weights; evaluate every split after each epoch.

    Returns {"config", "initial_weights_digest", "history": [per-epoch dict], "processes", "status"}.
    checkpoints: a folder for per-epoch checkpoints; resume continues from the last one.
    provenance: this process's code, libraries, machine and threads (provenance.environment()); each process
    that trains epochs adds {"first_epoch", **provenance} to run["processes"], so a run resumed in another
    process, perhaps on another machine, says where each stretch of its epochs (and their seconds) ran.
    A NaN or Inf loss, or a gradient norm above training.max_grad_norm, stops the run with
    status "diverged" and a message; the history and checkpoint of the last good epoch stay.
    With training.plateau_factor set, an epoch whose valid loss is no lower than the last kept
    epoch's (or with plateau_metric "accuracy", whose valid accuracy is no higher) is undone: the
    weights go back, its metrics move to record["undone"] (the record keeps those of the weights
    held), and lr0 is scaled by the factor from then on.
    """
    dtype = config["training"]["dtype"]
    weights, run = _start(twin, task, config, checkpoints if resume else None, progress)
    model = twin.build_model(task.spec, weights, dtype)
    run["initial_weights_digest"] = run["initial_weights_digest"] or weights_digest(twin.get_weights(model))
    if len(run["history"]) < epochs:
        run["processes"] = [*run.get("processes", []), {"first_epoch": len(run["history"]) + 1, **(provenance or {})}]
    eval_batches = {split: task.batches(split, None) for split in SPLITS}  # fixed order: build once
    for epoch in range(len(run["history"]), epochs):
        schedule = plateau_schedule(config["training"], run["history"])
        try:
            record = train_epoch(twin, model, task, config, schedule, epoch, epochs, progress)
        except Diverged as problem:
            return {**run, "status": "diverged", "message": str(problem)}
        for split in SPLITS:
            record[split] = evaluate(twin, model, eval_batches[split], task.carries_state)
        if _is_plateau(config["training"], run["history"], record):  # undo: keep the weights held
            record["undone"] = {split: record[split] for split in SPLITS}
            record.update({split: run["history"][-1][split] for split in SPLITS})
            model = twin.build_model(task.spec, weights, dtype)
        else:
            weights = twin.get_weights(model)
        run["history"].append(record)
        if checkpoints is not None:
            save_checkpoint(checkpoints, epoch + 1, weights, run)
        if progress:
            _print_epoch(twin, task.metric, record)
    return {**run, "status": "complete"}


def _start(twin, task: TaskData, config: dict, checkpoints: Optional[Path], progress: bool) -> tuple[dict, dict]:
    """(weights, run so far): the last checkpoint's when there is one in `checkpoints`, else the task's
    initial weights and an empty run (its initial_weights_digest still None)."""
    saved = load_checkpoint(checkpoints, config, task.weights) if checkpoints is not None else None
    if saved is None:
        return task.weights, {"config": config, "initial_weights_digest": None, "history": [], "processes": [],
                              "status": "running"}
    _, weights, run = saved
    if progress:
        print(f"{twin.NAME}: resuming after epoch {len(run['history'])}", flush=True)
    return weights, {**run, "config": config}  # the same settings, perhaps more epochs


def train_epoch(twin, model, task: TaskData, config: dict, schedule: Schedule, epoch: int, epochs: int,
                 progress: bool) -> dict:
    """One epoch of SGD steps on the epoch's batches: its record (time, speed, order, lr), or Diverged."""
    max_grad_norm = config["training"]["max_grad_norm"]
    lr = schedule.learning_rate(epoch)
    batches = task.batches("train", epoch)
    state, losses = None, []
    bar = tqdm(batches, desc=f"{twin.NAME} epoch {epoch + 1}/{epochs}", leave=False,
               disable=None if progress else True)  # None: tqdm's own rule, no bar unless stderr is a terminal
    start = time.perf_counter()
    for step, batch in enumerate(bar):
        batch = with_dropout(batch, task.spec, config["model"]["dropout"], config["seed"], epoch, step)
        result = twin.train_step(model, batch, lr, schedule.clip_norm, state)
        problem = _divergence(result, max_grad_norm)
        if problem:
            last = f"{losses[-1]:.4f}" if losses else "none"
            raise Diverged(f"{problem} at epoch {epoch + 1}, step {step + 1}; last good loss {last}")
        losses.append(result.loss)
        state = result.state if task.carries_state else None
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    seconds = time.perf_counter() - start
    if not all(np.isfinite(w).all() for w in twin.get_weights(model).values()):
        raise Diverged(f"weights are not finite after epoch {epoch + 1}; last good loss {losses[-1]:.4f}")
    tokens = sum(b.targets.size if b.mask is None else int(b.mask.sum()) for b in batches)
    return {
        "epoch": epoch + 1,
        "running_train_loss": float(np.mean(losses)),
        "seconds": seconds,
        "samples_per_second": sum(len(b.targets) for b in batches) / seconds,
        "tokens_per_second": tokens / seconds,
        "batch_order_digest": batch_digest(batches),
        "learning_rate": lr,
    }


def _is_plateau(training: dict, history: list[dict], record: dict) -> bool:
    """Whether the epoch of `record` is to be undone: a plateau schedule, and no better valid figure
    (training.plateau_metric: no lower loss, or no higher accuracy, than the last kept epoch's)."""
    if training["plateau_factor"] is None or not history:
        return False
    metric = training["plateau_metric"]
    now, kept = record["valid"][metric], history[-1]["valid"][metric]
    return now <= kept if metric == "accuracy" else now >= kept


def _print_epoch(twin, metric: str, record: dict) -> None:
    undone = f" (undone: valid {metric} {record['undone']['valid'][metric]:.4f})" if "undone" in record else ""
    print(f"{twin.NAME} epoch {record['epoch']}: train loss {record['train']['loss']:.4f}, "
          f"valid {metric} {record['valid'][metric]:.4f}{undone}, {record['seconds']:.1f} s", flush=True)


def plateau_schedule(training: dict, history: list[dict]) -> Schedule:
    """The next epoch's schedule: lr0 scaled by training.plateau_factor per epoch undone so far."""
    undone = sum("undone" in record for record in history)
    scale = training["plateau_factor"] ** undone if undone else 1.0
    return Schedule(training["lr0"] * scale, training["decay"], training["clip_norm"])


def _divergence(result, max_grad_norm: Optional[float]) -> Optional[str]:
    """What is wrong with a step's result, or None."""
    if not math.isfinite(result.loss):
        return f"loss is {result.loss}"
    if not math.isfinite(result.grad_norm) or (max_grad_norm is not None and result.grad_norm > max_grad_norm):
        return f"gradient norm is {result.grad_norm:.3g} (limit training.max_grad_norm = {max_grad_norm})"
    return None
