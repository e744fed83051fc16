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
    # p = softmax(z), computed in one buffer: shift by the row max (for stability), exp, normalise
    p = z - z.max(axis=1, keepdims=True)
    target_shifted = p[rows, y]
    np.exp(p, out=p)
    sum_exp = p.sum(axis=1)
    token_losses = np.log(sum_exp) - target_shifted  # -log p[target], (M,)
    p /= sum_exp[:, None]
    if mask is None:
        weights = np.full(len(y), 1.0 / len(y), dtype=logits.dtype)
    else:
        m = mask.reshape(-1).astype(logits.dtype)
        weights = m / m.sum()
    loss = float(token_losses @ weights)
    # d loss / d z = weight ⊙ (p - onehot(y)), in place of p
    p[rows, y] -= 1
    p *= weights[:, None]
    return loss, p.reshape(logits.shape)
