"""Embedding: look up one row of W (V, E) per token id."""

from __future__ import annotations

import numpy as np


def embedding_forward(ids: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ids (N, T) int, W (V, E) -> vectors (N, T, E)."""
    return W[ids]


def embedding_backward(dout: np.ndarray, ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """dout (N, T, E) -> dW (V, E): each token's gradient added to its row."""
    E = dout.shape[-1]
    dW = np.zeros((vocab_size, E), dtype=dout.dtype)
    np.add.at(dW, ids.ravel(), dout.reshape(-1, E))
    return dW
