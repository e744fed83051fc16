"""Dropout masks, drawn by the harness and handed to every twin in the batch (Batch.dropout).

Zaremba et al. 2014's non-recurrent dropout: on each LSTM layer's input (the embedding's output
first, then between layers) and on the output layer's input, never on the recurrent connections.
Each mask entry is 0 with probability p, else 1/(1 − p) (inverted dropout: nothing to rescale at
evaluation, where there are no masks). A training step's masks depend only on (seed, epoch, step),
so a resumed run draws the same ones, and every twin multiplies the same numbers in.
"""

from __future__ import annotations

import numpy as np

from twin_contract import Batch, ModelSpec

STREAM = 3  # the seed's random stream for dropout (0 weights, 1 batch order, 7 quick subsets)


def dropout_masks(spec: ModelSpec, p: float, N: int, T: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Masks of spec.dropout_shapes(N, T), float64: 0 with probability p, else 1/(1 − p)."""
    return tuple((rng.random(shape) >= p) / (1.0 - p) for shape in spec.dropout_shapes(N, T))


def with_dropout(batch: Batch, spec: ModelSpec, p: float, seed: int, epoch: int, step: int) -> Batch:
    """The training batch with its step's masks (the batch itself when p is 0)."""
    if not p:
        return batch
    N, T = np.shape(batch.inputs)[:2]
    return batch._replace(dropout=dropout_masks(spec, p, N, T, np.random.default_rng([seed, STREAM, epoch, step])))
