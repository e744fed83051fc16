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
    shifted = z - z.max(axis=1, keepdims=True)  # for stability; softmax is unchanged
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1)
    token_losses = np.log(sum_exp) - shifted[rows, y]  # (M,)
    if mask is None:
        weights = np.full(len(y), 1.0 / len(y), dtype=logits.dtype)
    else:
        m = mask.reshape(-1).astype(logits.dtype)
        weights = m / m.sum()
    loss = float(token_losses @ weights)
    # d loss / d z = weight ⊙ (softmax(z) - onehot(y))
    dz = exp / sum_exp[:, None]
    dz[rows, y] -= 1
    dz *= weights[:, None]
    return loss, dz.reshape(logits.shape)
