"""The LSTM as the equations say it: read this first, then `lstm.py` (the same math, made fast).

One step at a time, plain σ and tanh, a cache per step, as in CS231n's `rnn_layers.py`.
Shapes: N batch, T steps, D input features, H hidden units. Weights in Keras's layout,
gate blocks in order i, f, c, o: Wx (D, 4H), Wh (H, 4H), b (4H,).

    a   = x_t·Wx + h_{t-1}·Wh + b          (N, 4H)
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

A mask (N, T), True at real steps, carries the state through padded steps unchanged
(h_t = h_{t-1}, c_t = c_{t-1}), as Keras does. `tests/test_reference_lstm.py` checks that
`lstm.py` computes exactly this, outputs and every gradient, in float64.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


class StepCache(NamedTuple):
    """What one step's backward pass needs."""

    x: np.ndarray  # (N, D)
    h_prev: np.ndarray  # (N, H)
    c_prev: np.ndarray  # (N, H)
    i: np.ndarray  # (N, H) input gate
    f: np.ndarray  # (N, H) forget gate
    g: np.ndarray  # (N, H) candidate cell
    o: np.ndarray  # (N, H) output gate
    tanh_c: np.ndarray  # (N, H)
    Wx: np.ndarray
    Wh: np.ndarray


class Grads(NamedTuple):
    x: np.ndarray  # (N, T, D)
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    b: np.ndarray  # (4H,)
    h0: np.ndarray  # (N, H)
    c0: np.ndarray  # (N, H)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One step: x (N, D), h_prev and c_prev (N, H) -> h (N, H), c (N, H), cache."""
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b  # (N, 4H)
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H : 2 * H])
    g = np.tanh(a[:, 2 * H : 3 * H])
    o = sigmoid(a[:, 3 * H :])
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, Wx, Wh)


def lstm_step_backward(dh, dc, cache: StepCache):
    """dh, dc (N, H): gradients w.r.t. this step's h and c -> dx, dh_prev, dc_prev, dWx, dWh, db."""
    x, h_prev, c_prev, i, f, g, o, tanh_c, Wx, Wh = cache
    # h = o ⊙ tanh(c)
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c**2)
    # c = f ⊙ c_prev + i ⊙ g
    di, df, dg, dc_prev = dc * g, dc * c_prev, dc * i, dc * f
    # i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
    # a = x·Wx + h_prev·Wh + b
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def lstm_forward(x, Wx, Wh, b, h0=None, c0=None, mask: Optional[np.ndarray] = None):
    """x (N, T, D) from state (h0, c0) (zeros if None) -> h_seq (N, T, H), (h_T, c_T), caches."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    h = np.zeros((N, H), x.dtype) if h0 is None else h0
    c = np.zeros((N, H), x.dtype) if c0 is None else c0
    h_seq, caches = np.zeros((N, T, H), x.dtype), []
    for t in range(T):
        h_new, c_new, cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        real = True if mask is None else mask[:, t, None]  # (N, 1)
        h, c = np.where(real, h_new, h), np.where(real, c_new, c)  # padded steps carry the state
        h_seq[:, t] = h
        caches.append(cache)
    return h_seq, (h, c), caches


def lstm_backward(dh_seq, dh_T, dc_T, caches: list[StepCache], mask: Optional[np.ndarray] = None) -> Grads:
    """Backpropagation through time: the forward loop in reverse, carrying dh and dc.

    dh_seq (N, T, H), dh_T and dc_T (N, H): gradients of the loss w.r.t. h_seq and the final state.
    """
    N, T, H = dh_seq.shape
    dx = np.zeros((N, T, caches[0].x.shape[1]), dh_seq.dtype)
    dWx, dWh = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh)
    db = np.zeros(4 * H, dh_seq.dtype)
    dh, dc = dh_T.copy(), dc_T.copy()
    for t in reversed(range(T)):
        dh = dh + dh_seq[:, t]
        real = True if mask is None else mask[:, t, None]
        # the step's math saw the gradient only where the step was real ...
        dx[:, t], dh_prev, dc_prev, dWx_t, dWh_t, db_t = lstm_step_backward(
            np.where(real, dh, 0), np.where(real, dc, 0), caches[t])
        # ... and at a padded step h and c were passed through: so are their gradients
        dh, dc = dh_prev + np.where(real, 0, dh), dc_prev + np.where(real, 0, dc)
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return Grads(dx, dWx, dWh, db, dh, dc)
