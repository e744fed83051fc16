"""The LSTM layer over a whole sequence: forward, and backpropagation through time.

Weights in the canonical (Keras) layout, gate blocks in order i, f, c, o:
    Wx (D, 4H), Wh (H, 4H), b (4H,).
The cell, for each step t (σ is the logistic sigmoid):
    a   = x_t·Wx + h_{t-1}·Wh + b            # (N, 4H) pre-activations, one fused matmul
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)
The input projection x_t·Wx + b is done for all steps in one matmul before the
recurrence; only h_{t-1}·Wh is left inside the loop.

Masking (as Keras): at a padded step (mask False) the state is carried through
unchanged, h_t = h_{t-1} and c_t = c_{t-1}, and the output at that step is the
carried h. Internally everything is time-major, (T, N, ...), so that each step's
slice is contiguous.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class LSTMCache(NamedTuple):
    """What the backward pass needs from the forward pass (time-major)."""

    xs: np.ndarray  # (T, N, D) inputs
    gates: np.ndarray  # (T, N, 4H) activations i, f, g, o
    hs: np.ndarray  # (T+1, N, H) carried h; hs[0] is h0
    cs: np.ndarray  # (T+1, N, H) carried c; cs[0] is c0
    tanh_cs: np.ndarray  # (T, N, H) tanh of the cell's new c (before masking)
    mask: Optional[np.ndarray]  # (T, N, 1) bool, or None when every step is real
    Wx: np.ndarray
    Wh: np.ndarray


class LSTMGrads(NamedTuple):
    x: np.ndarray  # (N, T, D)
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    b: np.ndarray  # (4H,)
    h0: np.ndarray  # (N, H)
    c0: np.ndarray  # (N, H)


def sigmoid(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def lstm_forward(
    x: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    h0: Optional[np.ndarray] = None,
    c0: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMCache]:
    """Run the LSTM over x (N, T, D) from state (h0, c0), each (N, H) (zeros if None).

    mask: (N, T) bool, True at real steps; None means all steps are real.
    Returns h_seq (N, T, H), the final state (h_T, c_T), and the cache for lstm_backward.
    """
    N, T, D = x.shape
    H = Wh.shape[0]
    xs = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, N, D)
    gates = (xs.reshape(T * N, D) @ Wx + b).reshape(T, N, 4 * H)  # x_t·Wx + b for all t
    hs = np.zeros((T + 1, N, H), dtype=x.dtype)
    cs = np.zeros((T + 1, N, H), dtype=x.dtype)
    if h0 is not None:
        hs[0] = h0
    if c0 is not None:
        cs[0] = c0
    tanh_cs = np.empty((T, N, H), dtype=x.dtype)
    step_mask = None if mask is None else mask.T[:, :, None]  # (T, N, 1)

    for t in range(T):
        a = gates[t]  # (N, 4H), updated in place into the activations
        a += hs[t] @ Wh
        i, f, g, o = _activate(a, H)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        c = cs[t + 1]
        np.multiply(f, cs[t], out=c)
        c += i * g
        # h_t = o ⊙ tanh(c_t)
        np.tanh(c, out=tanh_cs[t])
        h = np.multiply(o, tanh_cs[t], out=hs[t + 1])
        if step_mask is not None:  # padded steps carry the state through
            np.copyto(h, hs[t], where=~step_mask[t])
            np.copyto(c, cs[t], where=~step_mask[t])

    h_seq = hs[1:].transpose(1, 0, 2)  # (N, T, H)
    cache = LSTMCache(xs, gates, hs, cs, tanh_cs, step_mask, Wx, Wh)
    return h_seq, (hs[T], cs[T]), cache


def lstm_backward(
    dh_seq: Optional[np.ndarray],
    dh_T: Optional[np.ndarray],
    dc_T: Optional[np.ndarray],
    cache: LSTMCache,
) -> LSTMGrads:
    """Backpropagation through time.

    dh_seq: (N, T, H) gradient of the loss w.r.t. the outputs h_seq (None = zero).
    dh_T, dc_T: (N, H) gradients w.r.t. the final state (None = zero).
    Walks the forward loop in reverse, one block per forward line.
    """
    xs, gates, hs, cs, tanh_cs, step_mask, Wx, Wh = cache
    T, N, D = xs.shape
    H = Wh.shape[0]
    dtype = xs.dtype
    da_all = np.empty((T, N, 4 * H), dtype=dtype)  # gradients of the pre-activations a
    dh = np.zeros((N, H), dtype=dtype) if dh_T is None else np.array(dh_T, dtype=dtype)
    dc = np.zeros((N, H), dtype=dtype) if dc_T is None else np.array(dc_T, dtype=dtype)
    dhs = None if dh_seq is None else dh_seq.transpose(1, 0, 2)  # (T, N, H)

    for t in reversed(range(T)):
        if dhs is not None:
            dh += dhs[t]
        i, f, g, o = np.split(gates[t], 4, axis=1)
        if step_mask is not None:  # a padded step passed h and c through: so do their gradients
            dh_carried = np.where(step_mask[t], 0, dh)
            dc_carried = np.where(step_mask[t], 0, dc)
            dh = np.where(step_mask[t], dh, 0)
            dc = np.where(step_mask[t], dc, 0)
        # h_t = o ⊙ tanh(c_t)
        do = dh * tanh_cs[t]
        dc += dh * o * (1 - tanh_cs[t] ** 2)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        di = dc * g
        df = dc * cs[t]
        dg = dc * i
        dc = dc * f  # becomes dc_{t-1}
        # i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
        da = da_all[t]
        da[:, :H] = di * i * (1 - i)
        da[:, H : 2 * H] = df * f * (1 - f)
        da[:, 2 * H : 3 * H] = dg * (1 - g**2)
        da[:, 3 * H :] = do * o * (1 - o)
        # a = x_t·Wx + h_{t-1}·Wh + b
        dh = da @ Wh.T  # becomes dh_{t-1}
        if step_mask is not None:
            dh += dh_carried
            dc += dc_carried

    # The weight gradients, summed over all steps: one matmul each.
    da_flat = da_all.reshape(T * N, 4 * H)
    dWx = xs.reshape(T * N, D).T @ da_flat
    dWh = hs[:T].reshape(T * N, H).T @ da_flat
    db = da_flat.sum(axis=0)
    dx = (da_flat @ Wx.T).reshape(T, N, D).transpose(1, 0, 2)
    return LSTMGrads(dx, dWx, dWh, db, dh, dc)


def _activate(a: np.ndarray, H: int) -> tuple[np.ndarray, ...]:
    """In place: pre-activations a (N, 4H) -> views i, f, g, o, each (N, H)."""
    i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    sigmoid(a[:, : 2 * H], out=a[:, : 2 * H])  # i and f
    np.tanh(g, out=g)
    sigmoid(o, out=o)
    return i, f, g, o
