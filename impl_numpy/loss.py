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
    y = targets.reshape(-1)
    loss, dz = weighted_softmax_cross_entropy(logits.reshape(-1, C), y, token_weights(mask, len(y), logits.dtype))
    return loss, dz.reshape(logits.shape)


def token_weights(mask: Optional[np.ndarray], M: int, dtype) -> np.ndarray:
    """(M,) weights that average over the real tokens: 1 / (real tokens) where mask is True, else 0."""
    if mask is None:
        return np.full(M, 1.0 / M, dtype=dtype)
    m = mask.reshape(-1).astype(dtype)
    return m / m.sum()


def weighted_softmax_cross_entropy(z: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Σ_k weights[k] · -log softmax(z[k])[y[k]], and its gradient w.r.t. z.

    z (M, C) logits, y (M,) int, weights (M,). Returns the loss and dz (M, C), a new array.
    """
    token_losses, e, sum_exp = softmax_cross_entropy_parts(z, y)
    e *= (weights / sum_exp)[:, None]  # d loss / d z = weight ⊙ (softmax(z) − onehot(y))
    return float(token_losses @ weights), e


def softmax_cross_entropy_parts(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z (M, C) logits, y (M,) int -> (-log softmax(z)[y] (M,), e (M, C), Σ (M,)) where e / Σ, row by row,
    is softmax(z) − onehot(y): the gradient of each row's loss, left unscaled so that a caller may fold
    the rows' factors into what it multiplies e with next. e is a new array."""
    rows = np.arange(len(y))
    # softmax(z) = exp(z − s) / Σ exp(z − s) for any shift s. Logits far from exp's overflow need none:
    # exp(z) straight into a new buffer saves two passes over (M, C) (the row maxima, the subtraction).
    # Where a row's Σ exp(z) came out infinite, zero or subnormal, all rows are redone with s = max z.
    target_shifted = z[rows, y]
    ones = np.ones(z.shape[1], dtype=z.dtype)  # Σ along rows as a matrix-vector product: BLAS's is ~3x NumPy's sum
    with np.errstate(over="ignore"):  # an overflow (in exp, or in the sum of large terms) is caught below
        e = np.exp(z)
        sum_exp = e @ ones
    if not (np.isfinite(sum_exp).all() and sum_exp.min() >= np.finfo(z.dtype).tiny):
        shift = z.max(axis=1, keepdims=True)
        np.subtract(z, shift, out=e)
        target_shifted = target_shifted - shift[:, 0]
        np.exp(e, out=e)
        sum_exp = e @ ones
    token_losses = np.log(sum_exp) - target_shifted  # -log softmax(z)[target]
    e[rows, y] -= sum_exp  # Σ · (softmax − onehot)
    return token_losses, e, sum_exp
