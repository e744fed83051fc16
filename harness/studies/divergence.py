"""How fast the twins' float64 training trajectories separate on a real config.

`make parity` shows that one step of the two twins agrees to rounding (1e-16). Over many
steps a large learning rate can amplify that rounding exponentially, as in any chaotic
system: the gap then grows by orders of magnitude every few steps, and two runs that
start bit-identical end in different (equally good) minima. A real difference in the
math would show at step 1 instead. `python -m harness divergence` tells the two apart:
two twins (by default NumPy and TensorFlow) train in float64 from the config's initial weights on its batches, and the
largest relative weight gap is recorded after selected steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from twin_contract import Batch

from ..recipe.dropout import with_dropout
from ..recipe.tasks import TaskData, prepare_task
from ..training.lockstep import lockstep
from ..training.loop import plateau_schedule
from ..twins import DEFAULT, load
from .parity import relative_difference

REPORT_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def trajectory_divergence(config: dict, steps: int, data_root: Optional[Path] = None,
                          pair: tuple[str, str] = DEFAULT) -> dict:
    """Two twins (`pair`: a twin, then the one it is measured against), float64, `steps` SGD steps of the
    config's training: the gap after REPORT_STEPS.

    Returns {"steps", "twins": pair, "rows": [{"step", "epoch", "loss <a>", "loss <b>", "grad norm",
    "clipped", "weight gap"}]}; the weight gap is the largest max|a − b| / max|b| over the weights.
    """
    config = {**config, "training": {**config["training"], "dtype": "float64"}}
    task = prepare_task(config, data_root)
    t = config["training"]
    schedule = plateau_schedule(t, [])  # no epoch ends here, so none is undone
    twins = [load(name) for name in pair]
    epochs = []  # the epoch of each step planned so far

    def plan():  # each epoch starts from a zero state, as in training
        for epoch, first, batch in _training_batches(task, config):
            epochs.append(epoch)
            yield batch, schedule.learning_rate(epoch), schedule.clip_norm, first

    rows = []
    trained = lockstep(twins, task.spec, task.weights, "float64", plan(), task.carries_state)
    for step, (models, results) in enumerate(trained, start=1):
        epoch = epochs[step - 1]
        if step in REPORT_STEPS or step == steps:
            ours, theirs = (twin.get_weights(model) for twin, model in zip(twins, models))
            rows.append({
                "step": step, "epoch": epoch + 1,
                f"loss {pair[0]}": results[0].loss, f"loss {pair[1]}": results[1].loss,
                "grad norm": results[0].grad_norm,
                "clipped": t["clip_norm"] is not None and results[0].grad_norm > t["clip_norm"],
                "weight gap": max(relative_difference(ours[name], theirs[name]) for name in theirs),
            })
        if step == steps:
            break
    return {"steps": steps, "twins": list(pair), "rows": rows}


def _training_batches(task: TaskData, config: dict) -> Iterator[tuple[int, bool, Batch]]:
    """(epoch, first batch of its epoch?, batch with its dropout masks), epoch after epoch, in training order."""
    epoch = 0
    while True:
        for k, batch in enumerate(task.batches("train", epoch)):
            yield epoch, k == 0, with_dropout(batch, task.spec, config["model"]["dropout"], config["seed"], epoch, k)
        epoch += 1
