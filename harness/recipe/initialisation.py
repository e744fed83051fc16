"""Initial weights, generated once by the harness in NumPy from the seed, for every twin."""

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
    embedding: a prepared (V, E) matrix (GloVe), else embedding_scale·N(0,1); the word features'
    embeddings are embedding_scale·N(0,1) under both schemes.
    """
    H, C = spec.hidden_size, spec.num_classes
    weights = {}
    if spec.has_embedding:
        weights["embedding"] = (
            np.array(embedding, dtype=np.float64)
            if embedding is not None
            else init["embedding_scale"] * rng.standard_normal((spec.vocab_size, spec.input_size))
        )
    first, *others = spec.direction_names()
    weights.update(_lstm_weights(first, spec.layer_input_size(0), H, init, rng))
    if not spec.tie_embeddings:
        weights["dense/kernel"] = (
            init["dense_scale"] * rng.standard_normal((spec.output_size, C)) if init["scheme"] == "scaled_normal"
            else glorot_uniform((spec.output_size, C), rng))
    weights["dense/bias"] = np.zeros(C)
    # The other layers and directions, then the word features' embeddings, are drawn after: a one-layer
    # forward model's weights stay as they were before they existed.
    for j, name in enumerate(others, start=1):
        weights.update(_lstm_weights(name, spec.layer_input_size(j // spec.directions), H, init, rng))
    for feature in spec.features:
        weights[f"{feature.name}_embedding"] = init["embedding_scale"] * rng.standard_normal(
            (feature.vocab_size, feature.size))
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
