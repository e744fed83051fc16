"""Numerical parity of the twins: same weights and inputs in, same numbers out.

For each task's model shape (small synthetic sizes), each twin and the reference
(TensorFlow) get the same canonical weights and batches. We compare logits, loss,
final state and every gradient in float64 and float32, then a float64 training
trajectory of SGD steps with clipping active, comparing every weight at the end.

Relative difference of an array a against the reference b (TensorFlow):
    max |a - b| / max |b|
(normwise, so that entries near zero do not blow the figure up).
"""

from __future__ import annotations

import numpy as np

from twin_contract import Feature, ModelSpec, Schedule

from ..recipe.tasks import TASKS, Task
from ..training.lockstep import lockstep
from ..twins import NAMES, REFERENCE, available, load
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


def gradient_parity(case: Case, dtype: str, twin, reference, seed: int = 0) -> dict[str, float]:
    """Relative differences of logits (at real steps), loss, final state and each gradient on one batch: `twin`
    against `reference` (both twin modules).

    With carries_state, the compared batch starts from the state the first batch ends in.
    """
    rng = np.random.default_rng(seed)
    weights = random_weights(case.spec, rng)
    first, second = random_batch(case, rng), random_batch(case, rng)
    outputs = []
    for module in (twin, reference):
        model = module.build_model(case.spec, weights, dtype)
        state = module.predict(model, first)[2] if case.carries_state else None
        logits = module.predict(model, second, state)[0]
        loss, grads, final = module.loss_and_grads(model, second, state)
        outputs.append((logits, loss, final, grads))
    (logits_np, loss_np, final_np, grads_np), (logits_tf, loss_tf, final_tf, grads_tf) = outputs
    real = real_steps(case, second)
    row = {
        "logits": relative_difference(np.asarray(logits_np)[real], np.asarray(logits_tf)[real]),
        "loss": relative_difference(loss_np, loss_tf),
        "final h": relative_difference(final_np.h, final_tf.h),
        "final c": relative_difference(final_np.c, final_tf.c),
    }
    if set(grads_np) != set(grads_tf):
        raise AssertionError(f"gradients for {sorted(grads_np)}; the reference's are for {sorted(grads_tf)}")
    for name in grads_tf:
        if np.shape(grads_np[name]) != np.shape(grads_tf[name]):
            raise AssertionError(f"d {name} has shape {np.shape(grads_np[name])}; the reference's is "
                                 f"{np.shape(grads_tf[name])}")
        row[f"d {name}"] = relative_difference(grads_np[name], grads_tf[name])
    return row


def real_steps(case: Case, batch) -> tuple:
    """The index of the logits that count: every row, and for the per-step head only its real steps (what a
    padded step's logits hold is no twin's business: neither loss nor metric reads them)."""
    if case.spec.head == "per_step" and batch.mask is not None:
        return (np.asarray(batch.mask),)
    return (slice(None),)


def trajectory_parity(case: Case, twin, reference, num_updates: int = 100, seed: int = 0) -> dict[str, float]:
    """Train `twin` and `reference` num_updates SGD steps in float64 from the same weights on the same batches.

    Returns the relative difference of every weight at the end, of the per-step losses,
    and the fraction of steps whose gradient was clipped.
    """
    rng = np.random.default_rng(seed)
    weights = random_weights(case.spec, rng)
    batches = [random_batch(case, rng) for _ in range(4)]
    schedule = TRAJECTORY_SCHEDULE
    plan = ((batches[step % len(batches)], schedule.learning_rate(step // STEPS_PER_EPOCH), schedule.clip_norm,
             False) for step in range(num_updates))
    twins = (twin, reference)
    losses, norms = [], []
    for models, results in lockstep(twins, case.spec, weights, "float64", plan, case.carries_state):
        losses.append([r.loss for r in results])
        norms.append(results[0].grad_norm)
    w_np, w_tf = (module.get_weights(model) for module, model in zip(twins, models))
    losses_np, losses_tf = np.array(losses).T
    norms_np = np.array(norms)
    row = {name: relative_difference(w_np[name], w_tf[name]) for name in w_tf}
    row["losses"] = relative_difference(losses_np, losses_tf)
    row["clipped steps"] = float(np.mean(norms_np > TRAJECTORY_SCHEDULE.clip_norm))
    return row


def run_parity(num_updates: int = 100, twins=None) -> dict:
    """Every twin against the reference on all cases, both dtypes, and the trajectories, as one JSON-ready dict
    (with its thresholds): {"reference", "twins": {name: {"gradients": {dtype: {case: row}}, "trajectory":
    {case: row}}}, "missing": twins not installed, ...}.

    TensorFlow runs with op determinism (and PyTorch with its deterministic algorithms), so the figures are
    the same from run to run. twins: {name: module}, the reference among them; default the registry's
    installed twins (harness/twins.py).
    """
    if twins is None:
        installed = [name for name in NAMES if available(name)]
        twins = {name: load(name) for name in installed}
    reference = twins[REFERENCE]
    import tensorflow as tf  # loaded by the TensorFlow twin

    tf.config.experimental.enable_op_determinism()
    if "pytorch" in twins:
        import torch  # loaded by the PyTorch twin

        torch.use_deterministic_algorithms(True)
    report = {"reference": REFERENCE, "twins": {}, "missing": [name for name in NAMES if name not in twins],
              "num_updates": num_updates, "schedule": vars(TRAJECTORY_SCHEDULE), "steps_per_epoch": STEPS_PER_EPOCH,
              "thresholds": THRESHOLDS}
    for name, twin in twins.items():
        if name == REFERENCE:
            continue
        report["twins"][name] = {
            "gradients": {dtype: {case.name: gradient_parity(case, dtype, twin, reference) for case in PARITY_CASES}
                          for dtype in ("float64", "float32")},
            "trajectory": {case.name: trajectory_parity(case, twin, reference, num_updates) for case in PARITY_CASES},
        }
    return report
