"""The output layer during training: Linear then softmax cross-entropy, forward and backward at once.

For the language model the logits are (N·T, V), hundreds of MB: computed whole, each
elementwise pass (bias, max, exp, sum, scale) streams them through memory. Here rows
are taken a block at a time, so each block's passes run in cache, and the whole
logits never exist. When the layer's input is narrow (H small), the softmax's exp
costs more than the matmuls, and NumPy runs it on one core: then the rows, which are
independent, are shared among the cores (parallel.py), each thread taking its rows a
block at a time. When H is large the matmuls dominate and BLAS's own threads do better.
The math is linear_forward, softmax cross-entropy and linear_backward, applied block by
block, with the weight gradients summed over blocks; the bias rides in the matmuls (below).
"""

from __future__ import annotations

import numpy as np

from .loss import softmax_cross_entropy_parts
from .parallel import map_shares

BLOCK_LOGITS = 256 * 10_000  # a block's logits (10 MB in float32) stay in the last-level cache
# Threads for H up to this. Measured on 2 cores, train step of the language model with threads
# vs without: H = 32 1.42x faster, 64 1.15x, 128 1.00x, 200 0.88x (the matmuls dominate there).
THREADS_MAX_INPUT = 64


def linear_cross_entropy(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """x (M, H), W (H, C), b (C,), targets (M,) int, weights (M,) summing to 1.

    Returns loss = Σ weights · -log softmax(x·W + b)[target], and dx (M, H), dW (H, C), db (C,).
    """
    H = x.shape[1]
    block_rows = max(1, BLOCK_LOGITS // W.shape[1])
    dx = np.empty_like(x)
    # The bias as one more row of the kernel, against a column of ones: x·W + b = [x 1]·[W; b], so the
    # forward matmul adds b and the kernel's gradient [x 1]ᵀ·dlogits holds db as its last row, with no
    # pass of their own over the (rows, C) logits.
    x1 = np.ones((len(x), H + 1), dtype=x.dtype)
    x1[:, :H] = x
    Wb = np.concatenate([W, b[None, :]])  # (H + 1, C)

    def share_loss_and_grads(share: range) -> tuple[float, np.ndarray]:
        """One thread's rows, a block at a time: their loss and [dW; db] summed; their rows of dx written."""
        loss, dWb = 0.0, np.zeros_like(Wb)
        for start in range(share.start, share.stop, block_rows):
            rows = slice(start, min(start + block_rows, share.stop))
            token_losses, e, sum_exp = softmax_cross_entropy_parts(x1[rows] @ Wb, targets[rows])
            # dlogits = diag(weights / Σ)·e: the rows' factors go on the narrow sides of the matmuls
            # (dx's rows, [x 1]'s rows), never over the wide (rows, C) e
            row_scale = (weights[rows] / sum_exp)[:, None]
            dx[rows] = (e @ W.T) * row_scale
            dWb += (x1[rows] * row_scale).T @ e
            loss += float(token_losses @ weights[rows])
        return loss, dWb

    rows = range(len(x))
    if x.shape[1] > THREADS_MAX_INPUT:
        shares = [share_loss_and_grads(rows)]
    else:  # a share is at least one block: smaller ones would spend their time waiting on Python's lock
        shares = map_shares(share_loss_and_grads, rows, min_share=block_rows)
    losses, dWbs = zip(*shares)
    dWb = sum(dWbs)
    return sum(losses), dx, dWb[:H], dWb[H]
