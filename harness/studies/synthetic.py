"""Synthetic inputs: one case type for parity (small sizes) and bench (a task's real sizes), its weights and batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from twin_contract import Batch, ModelSpec

from ..recipe.dropout import dropout_masks


@dataclass(frozen=True)
class Case:
    """One model shape and the batches it is given.

    task: the task it stands for (a TASKS name; its name for a shape of the task's own).
    padding: "pre" or "post" pads variable-length sequences on that side, "holes" masks random steps
    anywhere; None = all full length.
    carries_state: the state goes on from batch to batch (the language model): parity compares a second
    batch that starts from the first batch's final state, bench carries it from step to step.
    dropout: p of the dropout masks each batch carries (0: none).
    """

    name: str
    task: str
    spec: ModelSpec
    batch_size: int
    num_steps: int
    padding: Optional[str] = None
    carries_state: bool = False
    dropout: float = 0.0

    def tokens(self, batch: Batch) -> int:
        """The real tokens (time steps) of a batch."""
        return int(batch.targets.shape[0] * self.num_steps if batch.mask is None else batch.mask.sum())

    def matmul_flops(self) -> float:
        """Floating-point operations of the matmuls in one NumPy training step (forward + backward)."""
        spec, N, T = self.spec, self.batch_size, self.num_steps
        H = spec.hidden_size
        lstm = sum(2 * N * T * 4 * H * (spec.layer_input_size(j // spec.directions) + H)  # input projection and
                   for j in range(len(spec.direction_names())))  # recurrence, per layer and direction
        dense = 2 * N * spec.output_size * spec.num_classes * (T if spec.head == "per_step" else 1)
        # backward: the LSTM's dx, dWx, dh, dWh and the Linear's dx, dW: twice the forward each
        return 3 * (lstm + dense)


def random_weights(spec: ModelSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Non-trivial canonical weights: every entry, biases included, drawn from N(0, 0.5²)."""
    return {name: 0.5 * rng.standard_normal(shape) for name, shape in spec.weight_shapes().items()}


def random_batch(case: Case, rng: np.random.Generator) -> Batch:
    """A batch of the case's shape: token ids (0 at padding) or float rows, random targets, word feature
    ids, and dropout masks when the case has dropout.

    With padding, rows have random lengths (or random holes), the first one full.
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
