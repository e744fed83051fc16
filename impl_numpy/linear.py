"""Linear layer y = x·W + b over the last axis: one matmul for all leading axes."""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (..., H), W (H, C), b (C,) -> y (..., C)."""
    H = x.shape[-1]
    y = x.reshape(-1, H) @ W
    y += b  # in place: y can be large (the language model's (N·T, V) logits)
    return y.reshape(*x.shape[:-1], W.shape[1])


def linear_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, ...]:
    """dy (..., C) -> dx (..., H), dW (H, C), db (C,)."""
    H, C = W.shape
    dy2 = dy.reshape(-1, C)
    dx = (dy2 @ W.T).reshape(x.shape)
    dW = x.reshape(-1, H).T @ dy2
    db = dy2.sum(axis=0)
    return dx, dW, db
