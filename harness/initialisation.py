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
    weights.update(_lstm_weights("lstm", D, H, init, rng))
    weights["dense/kernel"] = (init["dense_scale"] * rng.standard_normal((H, C)) if init["scheme"] == "scaled_normal"
                               else glorot_uniform((H, C), rng))
    weights["dense/bias"] = np.zeros(C)
    for name in spec.lstm_names()[1:]:  # the layers above the first take H inputs; drawn last, so a
        weights.update(_lstm_weights(name, H, H, init, rng))  # one-layer model's weights stay as they were
    return {name: weights[name] for name in spec.weight_shapes()}  # the canonical order


def _lstm_weights(name: str, D: int, H: int, init: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One LSTM layer's kernel (D, 4H), recurrent kernel (H, 4H) and bias (4H,) by the init scheme."""
    if init["scheme"] == "scaled_normal":
        kernel = init["lstm_scale"] * rng.standard_normal((D, 4 * H))
        recurrent = init["lstm_scale"] * rng.standard_normal((H, 4 * H))
        bias = np.zeros(4 * H)
    else:
        kernel, recurrent = glorot_uniform((D, 4 * H), rng), orthogonal((H, 4 * H), rng)
        bias = np.concatenate([np.zeros(H), np.ones(H), np.zeros(2 * H)])  # i, f, c, o: the forget gate's is 1
    return {f"{name}/kernel": kernel, f"{name}/recurrent_kernel": recurrent, f"{name}/bias": bias}


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
