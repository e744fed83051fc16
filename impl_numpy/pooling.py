"""Average pooling over the real (unmasked) time steps."""

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


def _step_weights(mask: np.ndarray, dtype) -> np.ndarray:
    """mask (N, T) -> (N, T, 1): 1 / (real steps in the row) at real steps, 0 at padding."""
    m = mask.astype(dtype)
    return (m / m.sum(axis=1, keepdims=True))[:, :, None]
