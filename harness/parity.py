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

from dataclasses import dataclass
from typing import Optional

import numpy as np

from twin_contract import Batch, Feature, ModelSpec, Schedule

from .dropout import dropout_masks
from .markdown import table
from .tasks import TASKS
from .twins import NAMES, load, lockstep


@dataclass(frozen=True)
class ParityCase:
    """One task's model shape, at a small size.

    padding: "pre" or "post" pads variable-length sequences on that side, "holes" masks random steps
    anywhere; None = all full length.
    carried_state: compare on a second batch that starts from the first batch's final state.
    dropout: p of the dropout masks each batch carries (0: none).
    """

    name: str
    spec: ModelSpec
    batch_size: int
    num_steps: int
    padding: Optional[str] = None
    carried_state: bool = False
    dropout: float = 0.0


def _task_case(task, name=None, padding=None, dropout=0.0, **changes) -> ParityCase:
    """The registry's small parity shape of `task`, with ModelSpec changes (as layers=2), another
    padding side, or dropout."""
    shape = {k: v for k, v in task.parity.items() if k not in ("batch_size", "num_steps", "padding")}
    return ParityCase(name or task.name, ModelSpec(task.head, **{**shape, **changes}), task.parity["batch_size"],
                      task.parity["num_steps"], padding or task.parity["padding"], task.carries_state, dropout)


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
NOT_A_DIFFERENCE = ("clipped steps",)

TRAJECTORY_SCHEDULE = Schedule(lr0=0.5, decay=0.1, clip_norm=0.3)  # clips some steps, not all
STEPS_PER_EPOCH = 10  # the trajectory's learning rate decays every 10 steps


def relative_difference(a, b) -> float:
    """max |a - b| / max |b|; 0 when both are all zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(b))
    diff = np.max(np.abs(a - b))
    return float(diff / scale) if scale > 0 else float(diff)


def random_weights(spec: ModelSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Non-trivial canonical weights: every entry, biases included, drawn from N(0, 0.5²)."""
    return {name: 0.5 * rng.standard_normal(shape) for name, shape in spec.weight_shapes().items()}


def random_batch(case, rng: np.random.Generator) -> Batch:
    """A batch of the case's shape: token ids (0 at padding) or float rows, random targets, word feature
    ids, and dropout masks when the case has dropout.

    case: a ParityCase or a bench.BenchCase (spec, batch_size, num_steps, padding, dropout); with
    padding, rows have random lengths (or random holes), the first one full.
    """
    spec, N, T = case.spec, case.batch_size, case.num_steps
    mask = None
    if case.padding == "holes":
        mask = rng.random((N, T)) < 0.6
        mask[:, rng.integers(T)] = True  # every row has a real step
        mask[0] = True
    elif case.padding is not None:
        lengths = rng.integers(1, T + 1, size=N)
        lengths[0] = T  # one full-length row
        steps = np.arange(T)[None, :]
        mask = steps < lengths[:, None] if case.padding == "post" else steps >= T - lengths[:, None]
    features = None
    if spec.has_embedding:
        inputs = rng.integers(1, spec.vocab_size, size=(N, T))
        if spec.features:
            features = np.stack([rng.integers(1, f.vocab_size, size=(N, T)) for f in spec.features], axis=-1)
        if mask is not None:
            inputs[~mask] = 0
            if features is not None:
                features[~mask] = 0
    else:
        inputs = rng.standard_normal((N, T, spec.input_size))
    target_shape = (N,) if spec.head == "pooled" else (N, T)
    targets = rng.integers(0, spec.num_classes, size=target_shape)
    dropout = dropout_masks(spec, case.dropout, N, T, rng) if case.dropout else None
    return Batch(inputs, targets, mask, features, dropout)


def gradient_parity(case: ParityCase, dtype: str, numpy_twin, tensorflow_twin, seed: int = 0) -> dict[str, float]:
    """Relative differences of logits, loss, final state and each gradient on one batch.

    With carried_state, the compared batch starts from the state the first batch ends in.
    """
    rng = np.random.default_rng(seed)
    weights = random_weights(case.spec, rng)
    first, second = random_batch(case, rng), random_batch(case, rng)
    outputs = []
    for twin in (numpy_twin, tensorflow_twin):
        model = twin.build_model(case.spec, weights, dtype)
        state = twin.predict(model, first)[2] if case.carried_state else None
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
    case: ParityCase, numpy_twin, tensorflow_twin, num_updates: int = 100, seed: int = 0
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
    for models, results in lockstep(twins, case.spec, weights, "float64", plan, case.carried_state):
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


def parity_failures(report: dict) -> list[str]:
    """Every figure above its threshold, as "float32 imdb d lstm/kernel: 2.0e-05 > 1e-05"; [] = parity holds."""
    tables = [(dtype, rows, THRESHOLDS[dtype]) for dtype, rows in report["gradients"].items()]
    tables.append(("trajectory", report["trajectory"], THRESHOLDS["trajectory"]))
    return [f"{name} {case} {column}: {value:.1e} > {limit:.0e}"
            for name, rows, limit in tables for case, row in rows.items() for column, value in row.items()
            if column not in NOT_A_DIFFERENCE and not value <= limit]  # NaN fails too


def parity_markdown(report: dict) -> str:
    """The report as Markdown tables: one row per task shape, one column per compared quantity."""
    lines = [
        "# Numerical parity: NumPy twin vs TensorFlow twin",
        "",
        "Generated by `make parity` (`python -m harness parity`) from `results/parity.json`; do not edit.",
        "Each figure is max |NumPy - TF| / max |TF| over the array. Shapes are small synthetic",
        "versions of each task's model, then the LSTM family's (stacked, bidirectional on both padding",
        "sides and with holes, dropout, a tied LM, word features); see `harness/parity.py` for the exact",
        "sizes. An LSTM column holds the largest figure over all layers and directions, the embeddings",
        "column over the word and feature embeddings; `results/parity.json` has every weight's.",
        "",
    ]
    failures = parity_failures(report)
    lines += [f"**Verdict: {'FAIL' if failures else 'pass'}.** Thresholds: float64 ≤ {THRESHOLDS['float64']:.0e}, "
              f"float32 ≤ {THRESHOLDS['float32']:.0e}, float64 trajectory ≤ {THRESHOLDS['trajectory']:.0e} "
              "(relative); TensorFlow ran with op determinism, so the figures repeat from run to run.", ""]
    lines += [f"- above its threshold: {failure}" for failure in failures] + ([""] if failures else [])
    for dtype, rows in report["gradients"].items():
        lines += [f"## Forward pass and gradients, {dtype}", "", *_table(rows), ""]
    schedule = report["schedule"]
    lines += [
        f"## Training trajectory, float64, {report['num_updates']} SGD steps",
        "",
        f"lr0 = {schedule['lr0']}, decay = {schedule['decay']} per {report['steps_per_epoch']} steps, "
        f"clip norm = {schedule['clip_norm']}; the LM carries its state across steps. "
        "Columns: final weights, the per-step losses, and the fraction of steps whose gradient was clipped.",
        "",
        *_table(report["trajectory"]),
        "",
    ]
    return "\n".join(lines)


def _table(rows: dict[str, dict[str, float]]) -> list[str]:
    """One row per case; the weights of all layers and directions grouped by kind (their largest figure)."""
    grouped = {}
    for name, row in rows.items():
        grouped[name] = {}
        for column, value in row.items():
            group = _group(column)
            grouped[name][group] = max(value, grouped[name].get(group, value))
    columns = list(dict.fromkeys(group for row in grouped.values() for group in row))
    return [table([{"task shape": name, **{c: _figure(row[c], c) if c in row else "—" for c in columns}}
                   for name, row in grouped.items()])]


def _group(column: str) -> str:
    """The table column of a figure: a word or feature embedding's in "embeddings", an LSTM weight's in its
    kind over all layers and directions ("lstm_1/backward/kernel" in "LSTM kernels"), others as they are."""
    prefix = "d " if column.startswith("d ") else ""
    name = column[len(prefix):]
    if name.endswith("embedding"):
        return prefix + "embeddings"
    if name.startswith("lstm"):
        return prefix + {"kernel": "LSTM kernels", "recurrent_kernel": "LSTM recurrent kernels",
                         "bias": "LSTM biases"}[name.rsplit("/", 1)[1]]
    return column


def _figure(value: float, column: str) -> str:
    return f"{value:.0%}" if column == "clipped steps" else f"{value:.1e}"
