"""Training and evaluation loops: the same code for both twins."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Optional

import numpy as np
from tqdm import tqdm

from .spec import Batch, Schedule
from .tasks import TaskData, batch_digest

SPLITS = ("train", "valid", "test")


class Diverged(RuntimeError):
    """The loss became NaN or Inf."""


def evaluate(twin, model, batches: list[Batch], carries_state: bool) -> dict[str, float]:
    """Token-weighted mean loss over the batches, and accuracy or perplexity."""
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
    return {"loss": mean, "accuracy": correct / tokens, "perplexity": math.exp(min(mean, 700.0))}


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.hexdigest()[:16]


def train_twin(twin, task: TaskData, config: dict, epochs: int, progress: bool = True) -> dict:
    """Train one twin from the task's initial weights; evaluate every split after each epoch.

    Returns {"initial_weights_digest", "history": [per-epoch dict], "status"}; a NaN or Inf
    loss stops the run with status "diverged" and the history up to the last good epoch.
    """
    t = config["training"]
    schedule = Schedule(t["lr0"], t["decay"], t["clip_norm"])
    model = twin.build_model(task.spec, task.weights, t["dtype"])
    run = {"initial_weights_digest": weights_digest(twin.get_weights(model)), "history": [], "status": "complete"}
    for epoch in range(epochs):
        batches = task.batches("train", epoch)
        state, losses = None, []
        bar = tqdm(batches, desc=f"{twin.NAME} epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        start = time.perf_counter()
        for step, batch in enumerate(bar):
            result = twin.train_step(model, batch, schedule, epoch, state)
            if not math.isfinite(result.loss):
                last = f"{losses[-1]:.4f}" if losses else "none"
                run["status"] = "diverged"
                run["message"] = f"loss is {result.loss} at epoch {epoch + 1}, step {step + 1}; last good loss {last}"
                return run
            losses.append(result.loss)
            state = result.state if task.carries_state else None
            if step % 10 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        seconds = time.perf_counter() - start
        record = {
            "epoch": epoch + 1,
            "running_train_loss": float(np.mean(losses)),
            "seconds": seconds,
            "samples_per_second": sum(len(b.targets) for b in batches) / seconds,
            "tokens_per_second": sum(b.targets.size if b.mask is None else int(b.mask.sum()) for b in batches)
            / seconds,
            "batch_order_digest": batch_digest(batches),
        }
        for split in SPLITS:
            record[split] = evaluate(twin, model, task.batches(split, None), task.carries_state)
        run["history"].append(record)
        if progress:
            metric = task.metric
            print(f"{twin.NAME} epoch {epoch + 1}: train loss {record['train']['loss']:.4f}, "
                  f"valid {metric} {record['valid'][metric]:.4f}, {seconds:.1f} s", flush=True)
    return run
