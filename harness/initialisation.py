"""Initial weights, generated once by the harness in NumPy from the seed, for both twins."""

from __future__ import annotations

from typing import Optional

import numpy as np

from twin_contract import ModelSpec


def initial_weights(
    spec: ModelSpec, init: dict, rng: np.random.Generator, embedding: Optional[np.ndarray] = None
) -> dict[str, np.ndarray]:
    """Canonical weights by scheme (float64; the twins cast them).

    scaled_normal: LSTM kernels lstm_scale·N(0,1), Linear kernel dense_scale·N(0,1), biases 0.
    keras: Keras's defaults: glorot-uniform kernels, orthogonal recurrent kernel,
           zero biases except the forget gate's, which is 1.
    embedding: a prepared (V, E) matrix (GloVe), else embedding_scale·N(0,1).
    """
    D, H, C = spec.input_size, spec.hidden_size, spec.num_classes
    weights = {}
    if spec.has_embedding:
        weights["embedding"] = (
            np.array(embedding, dtype=np.float64)
            if embedding is not None
            else init["embedding_scale"] * rng.standard_normal((spec.vocab_size, D))
        )
    if init["scheme"] == "scaled_normal":
        weights["lstm/kernel"] = init["lstm_scale"] * rng.standard_normal((D, 4 * H))
        weights["lstm/recurrent_kernel"] = init["lstm_scale"] * rng.standard_normal((H, 4 * H))
        weights["lstm/bias"] = np.zeros(4 * H)
        weights["dense/kernel"] = init["dense_scale"] * rng.standard_normal((H, C))
    else:
        weights["lstm/kernel"] = glorot_uniform((D, 4 * H), rng)
        weights["lstm/recurrent_kernel"] = orthogonal((H, 4 * H), rng)
        weights["lstm/bias"] = np.concatenate([np.zeros(H), np.ones(H), np.zeros(2 * H)])  # i, f, c, o
        weights["dense/kernel"] = glorot_uniform((H, C), rng)
    weights["dense/bias"] = np.zeros(C)
    return weights


def glorot_uniform(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / sum(shape))
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows (rows <= cols), as Keras's Orthogonal."""
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(shape), min(shape))))
    q *= np.sign(np.diag(r))  # a uniform distribution over orthogonal matrices
    return q.T if rows < cols else q
