"""The output layer during training: Linear then softmax cross-entropy, forward and backward at once.

For the language model the logits are (N·T, V), hundreds of MB: computed whole, each
elementwise pass (bias, max, exp, sum, scale) streams them through memory. Here rows
are taken a block at a time, so each block's passes run in cache, and the whole
logits never exist. The math is exactly linear_forward, softmax cross-entropy and
linear_backward, applied block by block, with the weight gradients summed over blocks.
"""

from __future__ import annotations

import numpy as np

from .linear import linear_backward, linear_forward
from .loss import weighted_softmax_cross_entropy

BLOCK_ROWS = 256  # a block's logits (256 × 10,000 float32 = 10 MB) stay in the last-level cache


def linear_cross_entropy(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """x (M, H), W (H, C), b (C,), targets (M,) int, weights (M,) summing to 1.

    Returns loss = Σ weights · -log softmax(x·W + b)[target], and dx (M, H), dW (H, C), db (C,).
    """
    loss = 0.0
    dx = np.empty_like(x)
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    for start in range(0, len(x), BLOCK_ROWS):
        rows = slice(start, start + BLOCK_ROWS)
        logits = linear_forward(x[rows], W, b)
        block_loss, dlogits = weighted_softmax_cross_entropy(logits, targets[rows], weights[rows])
        dx[rows], block_dW, block_db = linear_backward(dlogits, x[rows], W)
        loss += block_loss
        dW += block_dW
        db += block_db
    return loss, dx, dW, db
