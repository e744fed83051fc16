"""Pooling over the real (unmasked) time steps, per unit: the mean, or the maximum.

Both are weighted sums over the steps, pooled = Σ_t w_t ⊙ h_t, so both backward passes are
dh_t = w_t ⊙ dpooled:
    mean: w_t = 1 / (real steps in the row) at real steps, 0 at padding;
    max:  w_t = 1 / (steps tied at the maximum) where h_t is the unit's maximum over the real
          steps, else 0 (ties share the gradient equally, as TensorFlow's reduce_max).
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def masked_mean_forward(h: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    """h (N, T, H), mask (N, T) bool or None (all real) -> mean over real steps (N, H)."""
    if mask is None:
        return h.mean(axis=1)
    weights = _step_weights(mask, h.dtype)  # (N, T, 1)
    return (h * weights).sum(axis=1)


def masked_mean_backward(dpooled: np.ndarray, mask: Optional[np.ndarray], T: int) -> np.ndarray:
    """dpooled (N, H) -> dh (N, T, H); padded steps get zero gradient."""
    if mask is None:
        return np.repeat(dpooled[:, None, :] / T, T, axis=1)
    return dpooled[:, None, :] * _step_weights(mask, dpooled.dtype)


def masked_max_forward(h: np.ndarray, mask: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """h (N, T, H), mask (N, T) bool or None (all real) -> (maximum over real steps (N, H),
    the weights w (N, T, H) that masked_max_backward needs)."""
    real = h if mask is None else np.where(mask[:, :, None], h, -np.inf)
    pooled = real.max(axis=1)
    at_max = real == pooled[:, None, :]
    return pooled, at_max / at_max.sum(axis=1, keepdims=True, dtype=h.dtype)


def masked_max_backward(dpooled: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """dpooled (N, H), the forward's weights (N, T, H) -> dh (N, T, H): each unit's to its maximum's step(s)."""
    return dpooled[:, None, :] * weights


def _step_weights(mask: np.ndarray, dtype) -> np.ndarray:
    """mask (N, T) -> (N, T, 1): 1 / (real steps in the row) at real steps, 0 at padding."""
    m = mask.astype(dtype)
    return (m / m.sum(axis=1, keepdims=True))[:, :, None]
