"""Numerical parity of the twins: same weights and inputs in, same numbers out.

For each task's model shape (small synthetic sizes), both twins get the same
canonical weights and batches. We compare logits, loss, final state and every
gradient in float64 and float32, then a float64 training trajectory of SGD
steps with clipping active, comparing every weight at the end.

Relative difference of an array a against the reference b (TensorFlow):
    max |a - b| / max |b|
(normwise, so that entries near zero do not blow the figure up).
"""

from __future__ import annotations

import numpy as np

from twin_contract import Feature, ModelSpec, Schedule

from ..recipe.tasks import TASKS, Task
from ..training.lockstep import lockstep
from ..twins import NAMES, load
from .synthetic import Case, random_batch, random_weights


def _task_case(task: Task, name=None, padding=None, dropout=0.0, **changes) -> Case:
    """The registry's small parity shape of `task`, with ModelSpec changes (as layers=2), another
    padding side, or dropout."""
    shape = {k: v for k, v in task.parity.items() if k not in ("batch_size", "num_steps", "padding")}
    return Case(name or task.name, task.name, ModelSpec(head=task.head, **{**shape, **changes}),
                task.parity["batch_size"], task.parity["num_steps"], padding or task.parity["padding"],
                task.carries_state, dropout)


POS, LM = TASKS["ptb_pos"], TASKS["ptb_lm"]
WORD_FEATURES = (Feature("shape", 8, 3), Feature("suffix", 11, 4))
# One case per task, then the LSTM family's: stacked layers with padding (POS) and with carried state (LM),
# bidirectional on both padding sides, max pooling, dropout, a tied LM with dropout, word features.
PARITY_CASES = tuple(_task_case(task) for task in TASKS.values()) + (
    _task_case(POS, "ptb_pos, 2 layers", layers=2),
    _task_case(LM, "ptb_lm, 2 layers", layers=2),
    _task_case(POS, "ptb_pos, bidirectional 2 layers, post-padding", layers=2, bidirectional=True),
    _task_case(POS, "ptb_pos, bidirectional 2 layers, pre-padding", "pre", layers=2, bidirectional=True),
    _task_case(TASKS["imdb"], "imdb, bidirectional, holes", "holes", bidirectional=True),
    _task_case(TASKS["imdb"], "imdb, bidirectional, max pooling, pre-padding", "pre", bidirectional=True,
               pooling="max"),
    _task_case(POS, "ptb_pos, 2 layers, dropout", dropout=0.3, layers=2),
    _task_case(LM, "ptb_lm, tied, dropout", dropout=0.3, input_size=LM.parity["hidden_size"], tie_embeddings=True),
    _task_case(POS, "ptb_pos, word features, bidirectional", features=WORD_FEATURES, bidirectional=True),
)

# The verdict: every figure at or below its threshold (relative, as relative_difference).
THRESHOLDS = {"float64": 1e-12, "float32": 1e-5, "trajectory": 1e-12}

TRAJECTORY_SCHEDULE = Schedule(lr0=0.5, decay=0.1, clip_norm=0.3)  # clips some steps, not all
STEPS_PER_EPOCH = 10  # the trajectory's learning rate decays every 10 steps


def relative_difference(a, b) -> float:
    """max |a - b| / max |b|; 0 when both are all zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b))
    diff = np.max(np.abs(a - b))
    return float(diff / scale) if scale > 0 else float(diff)


def gradient_parity(case: Case, dtype: str, numpy_twin, tensorflow_twin, seed: int = 0) -> dict[str, float]:
    """Relative differences of logits, loss, final state and each gradient on one batch.

    With carries_state, the compared batch starts from the state the first batch ends in.
    """
    rng = np.random.default_rng(seed)
    weights = random_weights(case.spec, rng)
    first, second = random_batch(case, rng), random_batch(case, rng)
    outputs = []
    for twin in (numpy_twin, tensorflow_twin):
        model = twin.build_model(case.spec, weights, dtype)
        state = twin.predict(model, first)[2] if case.carries_state else None
        logits = twin.predict(model, second, state)[0]
        loss, grads, final = twin.loss_and_grads(model, second, state)
        outputs.append((logits, loss, final, grads))
    (logits_np, loss_np, final_np, grads_np), (logits_tf, loss_tf, final_tf, grads_tf) = outputs
    row = {
        "logits": relative_difference(logits_np, logits_tf),
        "loss": relative_difference(loss_np, loss_tf),
        "final h": relative_difference(final_np.h, final_tf.h),
        "final c": relative_difference(final_np.c, final_tf.c),
    }
    if set(grads_np) != set(grads_tf):
        raise AssertionError(f"the twins' gradient names differ: {sorted(grads_np)} vs {sorted(grads_tf)}")
    for name in grads_tf:
        row[f"d {name}"] = relative_difference(grads_np[name], grads_tf[name])
    return row


def trajectory_parity(
    case: Case, numpy_twin, tensorflow_twin, num_updates: int = 100, seed: int = 0
) -> dict[str, float]:
    """Train both twins num_updates SGD steps in float64 from the same weights on the same batches.

    Returns the relative difference of every weight at the end, of the per-step losses,
    and the fraction of steps whose gradient was clipped.
    """
    rng = np.random.default_rng(seed)
    weights = random_weights(case.spec, rng)
    batches = [random_batch(case, rng) for _ in range(4)]
    schedule = TRAJECTORY_SCHEDULE
    plan = ((batches[step % len(batches)], schedule.learning_rate(step // STEPS_PER_EPOCH), schedule.clip_norm,
             False) for step in range(num_updates))
    twins = (numpy_twin, tensorflow_twin)
    losses, norms = [], []
    for models, results in lockstep(twins, case.spec, weights, "float64", plan, case.carries_state):
        losses.append([r.loss for r in results])
        norms.append(results[0].grad_norm)
    w_np, w_tf = (twin.get_weights(model) for twin, model in zip(twins, models))
    losses_np, losses_tf = np.array(losses).T
    norms_np = np.array(norms)
    row = {name: relative_difference(w_np[name], w_tf[name]) for name in w_tf}
    row["losses"] = relative_difference(losses_np, losses_tf)
    row["clipped steps"] = float(np.mean(norms_np > TRAJECTORY_SCHEDULE.clip_norm))
    return row


def run_parity(num_updates: int = 100, twins=None) -> dict:
    """All cases, both dtypes, and the trajectories, as one JSON-ready dict (with its thresholds).

    TensorFlow runs with op determinism on, so the figures are the same from run to run.
    twins: (NumPy twin, TensorFlow twin) modules; default the registry's (harness/twins.py).
    """
    numpy_twin, tensorflow_twin = twins or [load(name) for name in NAMES]
    import tensorflow as tf  # loaded by the TensorFlow twin

    tf.config.experimental.enable_op_determinism()
    report = {"gradients": {}, "trajectory": {}, "num_updates": num_updates,
              "schedule": vars(TRAJECTORY_SCHEDULE), "steps_per_epoch": STEPS_PER_EPOCH, "thresholds": THRESHOLDS}
    for dtype in ("float64", "float32"):
        report["gradients"][dtype] = {
            case.name: gradient_parity(case, dtype, numpy_twin, tensorflow_twin) for case in PARITY_CASES
        }
    report["trajectory"] = {
        case.name: trajectory_parity(case, numpy_twin, tensorflow_twin, num_updates) for case in PARITY_CASES
    }
    return report
