"""Softmax cross-entropy, averaged over the real (unmasked) tokens."""

from __future__ import annotations

from typing import Optional

import numpy as np


def softmax_cross_entropy(
    logits: np.ndarray, targets: np.ndarray, mask: Optional[np.ndarray] = None
) -> tuple[float, np.ndarray]:
    """Mean of -log softmax(logits)[target] over the tokens where mask is True.

    logits (..., C), targets (...) int, mask (...) bool or None (all real).
    Returns the loss and dlogits (..., C).
    """
    C = logits.shape[-1]
    z = logits.reshape(-1, C)
    y = targets.reshape(-1)
    rows = np.arange(len(y))
    # exp(z - max z) in one buffer (the shift keeps exp from overflowing; softmax is unchanged)
    e = z - z.max(axis=1, keepdims=True)
    target_shifted = e[rows, y]
    np.exp(e, out=e)
    sum_exp = e.sum(axis=1)
    token_losses = np.log(sum_exp) - target_shifted  # -log softmax(z)[target], (M,)
    if mask is None:
        weights = np.full(len(y), 1.0 / len(y), dtype=logits.dtype)
    else:
        m = mask.reshape(-1).astype(logits.dtype)
        weights = m / m.sum()
    loss = float(token_losses @ weights)
    # d loss / d z = weight ⊙ (softmax(z) - onehot(y)), in place of e: softmax = e / sum_exp
    e *= (weights / sum_exp)[:, None]
    e[rows, y] -= weights
    return loss, e.reshape(logits.shape)
