"""The LSTM layer over a whole sequence: forward, and backpropagation through time, made fast.

Learners: read `reference_lstm.py` first (the same math, one step at a time, plain σ and
tanh); a test checks that this module computes exactly what it does. The speed tricks here:
1. one fused matmul for the input projection of all steps, before the recurrence;
2. one tanh call for all four gates (σ(a) = (1 + tanh(a/2)) / 2, on pre-halved weights);
3. scratch arrays reused from call to call (`Workspace`), results written in place;
4. the backward pass's derivatives (σ', tanh', ∂h/∂c) for all steps at once, out of the loop;
5. padding among a step's rows at work (holes) folded into those derivatives: no per-step `np.where`;
6. the weight gradients as one matmul each over all steps; no dx when none is needed;
7. the rows past the last real one at a step are left out of that step (they carry their state on), so
   a batch sorted longest first (as model.py sorts it) computes on its real rows alone.

Weights in the canonical (Keras) layout, gate blocks in order i, f, c, o:
    Wx (D, 4H), Wh (H, 4H), b (4H,).
The cell, for each step t (σ is the logistic sigmoid):
    a   = x_t·Wx + h_{t-1}·Wh + b            # (N, 4H) pre-activations, one fused matmul
    i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)
The input projection x_t·Wx + b is done for all steps in one matmul before the
recurrence; only h_{t-1}·Wh is left inside the loop.

The four nonlinearities take one tanh call per step: σ(a) = (1 + tanh(a/2)) / 2,
so the i, f, o columns of the weights are halved once (exactly: a power of two)
and after tanh those columns are mapped back with ·½ + ½.

Masking (as Keras): at a padded step (mask False) the state is carried through
unchanged, h_t = h_{t-1} and c_t = c_{t-1}, and the output at that step is the
carried h. (Keras differs in one corner that no model here meets, since outputs at
padded steps never reach the loss: with a non-zero initial state, its outputs at
padded steps before the first real step are zeros.) Internally everything is
time-major, (T, N, ...), so that each step's slice is contiguous.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .workspace import Workspace


class LSTMCache(NamedTuple):
    """What the backward pass needs from the forward pass (time-major)."""

    xs: np.ndarray  # (T, N, D) inputs
    gates: np.ndarray  # (T, N, 4H) activations i, f, g, o
    hs: np.ndarray  # (T+1, N, H) carried h; hs[0] is h0
    cs: np.ndarray  # (T+1, N, H) carried c; cs[0] is c0
    tanh_cs: np.ndarray  # (T, N, H) tanh of the cell's new c (before masking)
    mask: Optional[np.ndarray]  # (T, N, 1) bool, or None when every step is real
    rows: list[int]  # n_t: the rows at work at step t, [:n_t]; the rest are padded there
    holes: set[int]  # the steps with padded rows among their rows at work
    Wx: np.ndarray
    Wh: np.ndarray


class LSTMGrads(NamedTuple):
    x: Optional[np.ndarray]  # (N, T, D), or None when not asked for
    Wx: np.ndarray  # (D, 4H)
    Wh: np.ndarray  # (H, 4H)
    b: np.ndarray  # (4H,)
    h0: np.ndarray  # (N, H)
    c0: np.ndarray  # (N, H)


def gate_scale(H: int, dtype) -> np.ndarray:
    """(4H,): ½ for the sigmoid gates i, f, o and 1 for the candidate c (gate order i, f, c, o)."""
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H : 3 * H] = 1
    return scale


def longest_first(mask: np.ndarray) -> np.ndarray:
    """(N,): the order of a batch's rows by their real steps, most first (stable). mask: (N, T) bool.

    Rows so sorted, post- or pre-padded, each step's padded rows come after its real ones (trick 7)."""
    return np.argsort(-np.asarray(mask).sum(axis=1), kind="stable")


def rows_at_work(mask: Optional[np.ndarray], T: int, N: int) -> tuple[list[int], set[int]]:
    """For each step t, n_t: the rows [:n_t] up to its last real one (N when mask is None); and the steps
    with padded rows among those (holes). mask: (N, T) bool."""
    if mask is None:
        return [N] * T, set()
    real = mask.T  # (T, N)
    rows = np.where(real.any(axis=1), N - np.argmax(real[:, ::-1], axis=1), 0)  # 1 + the last real row
    holes = np.flatnonzero(real.sum(axis=1) < rows)
    return rows.tolist(), set(holes.tolist())


def lstm_forward(
    x: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    h0: Optional[np.ndarray] = None,
    c0: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    workspace: Optional[Workspace] = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMCache]:
    """Run the LSTM over x (N, T, D) from state (h0, c0), each (N, H) (zeros if None).

    mask: (N, T) bool, True at real steps; None means all steps are real.
    workspace: scratch arrays to reuse across calls (the cache and h_seq live in it).
    Returns h_seq (N, T, H), the final state (h_T, c_T), and the cache for lstm_backward.
    """
    N, T, D = x.shape
    H = Wh.shape[0]
    ws = workspace or Workspace()
    scale = gate_scale(H, x.dtype)
    offset = 0.5 * (scale == 0.5).astype(x.dtype)  # ½ for i, f, o; 0 for c
    xs = ws.get("xs", (T, N, D), x.dtype)
    xs[...] = x.transpose(1, 0, 2)
    gates = ws.get("gates", (T, N, 4 * H), x.dtype)
    np.matmul(xs.reshape(T * N, D), Wx * scale, out=gates.reshape(T * N, 4 * H))
    gates += b * scale  # (x_t·Wx + b) with i, f, o halved, for all t
    Wh_scaled = Wh * scale
    hs = ws.get("hs", (T + 1, N, H), x.dtype)
    cs = ws.get("cs", (T + 1, N, H), x.dtype)
    hs[0] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    tanh_cs = ws.get("tanh_cs", (T, N, H), x.dtype)
    recurrent = ws.get("recurrent", (N, 4 * H), x.dtype)
    step_mask = None if mask is None else mask.T[:, :, None]  # (T, N, 1)
    padded = None if mask is None else ~step_mask
    rows, holes = rows_at_work(mask, T, N)

    for t in range(T):
        n = rows[t]  # rows [:n] at work; the others are padded at step t
        # i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o), with a = x_t·Wx + h_{t-1}·Wh + b
        a = gates[t, :n]  # (n, 4H), turned in place into the activations
        a += np.matmul(hs[t, :n], Wh_scaled, out=recurrent[:n])
        np.tanh(a, out=a)
        a *= scale
        a += offset
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        c = np.multiply(f, cs[t, :n], out=cs[t + 1, :n])
        c += i * g
        # h_t = o ⊙ tanh(c_t)
        np.tanh(c, out=tanh_cs[t, :n])
        h = np.multiply(o, tanh_cs[t, :n], out=hs[t + 1, :n])
        # padded steps carry the state through: padded rows among those at work, then the rows past them
        if t in holes:
            np.copyto(h, hs[t, :n], where=padded[t, :n])
            np.copyto(c, cs[t, :n], where=padded[t, :n])
        if n < N:
            np.copyto(hs[t + 1, n:], hs[t, n:])
            np.copyto(cs[t + 1, n:], cs[t, n:])

    h_seq = hs[1:].transpose(1, 0, 2)  # (N, T, H)
    cache = LSTMCache(xs, gates, hs, cs, tanh_cs, step_mask, rows, holes, Wx, Wh)
    return h_seq, (hs[T], cs[T]), cache


def lstm_backward(
    dh_seq: Optional[np.ndarray],
    dh_T: Optional[np.ndarray],
    dc_T: Optional[np.ndarray],
    cache: LSTMCache,
    workspace: Optional[Workspace] = None,
    input_grad: bool = True,
) -> LSTMGrads:
    """Backpropagation through time.

    dh_seq: (N, T, H) gradient of the loss w.r.t. the outputs h_seq (None = zero).
    dh_T, dc_T: (N, H) gradients w.r.t. the final state (None = zero).
    input_grad: False skips the gradient w.r.t. x (data, or a frozen embedding, needs none).
    Walks the forward loop in reverse, one block per forward line.
    """
    xs, gates, hs, cs, tanh_cs, step_mask, rows, holes, Wx, Wh = cache
    T, N, D = xs.shape
    H = Wh.shape[0]
    dtype = xs.dtype
    ws = workspace or Workspace()
    i, f, g, o = (gates[:, :, k * H : (k + 1) * H] for k in range(4))  # each (T, N, H)
    # Derivatives that do not depend on the incoming gradient, for all steps at once:
    gate_derivs = ws.get("gate_derivs", (T, N, 4 * H), dtype)  # σ' = σ(1 − σ), tanh' = 1 − tanh²
    np.subtract(1, gates, out=gate_derivs)
    gate_derivs *= gates
    np.multiply(g, g, out=gate_derivs[:, :, 2 * H : 3 * H])
    np.subtract(1, gate_derivs[:, :, 2 * H : 3 * H], out=gate_derivs[:, :, 2 * H : 3 * H])
    dh_dc = ws.get("dh_dc", (T, N, H), dtype)  # ∂h_t/∂c_t = o ⊙ (1 − tanh²(c_t))
    np.multiply(tanh_cs, tanh_cs, out=dh_dc)
    np.subtract(1, dh_dc, out=dh_dc)
    dh_dc *= o
    # ∂c_t/∂c_{t-1} = f; at a padded step c_t = c_{t-1} and h_t = h_{t-1}: there the cell's
    # derivatives are 0, ∂c_t/∂c_{t-1} is 1, and dh passes through to h_{t-1} unchanged (rows past
    # the rows at work are left as they are; padded rows among them, at the holes, are masked).
    dc_dc_prev = f
    if holes:
        gate_derivs *= step_mask
        dh_dc *= step_mask
        dc_dc_prev = np.where(step_mask, f, 1)
        dh_passed = (~step_mask).astype(dtype)  # (T, N, 1): 1 at padded steps

    da_all = ws.get("da", (T, N, 4 * H), dtype)  # gradients of the pre-activations a
    dh = np.zeros((N, H), dtype=dtype) if dh_T is None else np.array(dh_T, dtype=dtype)
    dc = np.zeros((N, H), dtype=dtype) if dc_T is None else np.array(dc_T, dtype=dtype)
    dhs = None if dh_seq is None else dh_seq.transpose(1, 0, 2)  # (T, N, H)
    Wh_T = np.ascontiguousarray(Wh.T)

    for t in reversed(range(T)):
        if dhs is not None:
            dh += dhs[t]
        n = rows[t]
        da, dh_n, dc_n = da_all[t, :n], dh[:n], dc[:n]  # the rows at work
        # h_t = o ⊙ tanh(c_t)
        np.multiply(dh_n, tanh_cs[t, :n], out=da[:, 3 * H :])  # do
        dc_n += dh_n * dh_dc[t, :n]
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        np.multiply(dc_n, g[t, :n], out=da[:, :H])  # di
        np.multiply(dc_n, cs[t, :n], out=da[:, H : 2 * H])  # df
        np.multiply(dc_n, i[t, :n], out=da[:, 2 * H : 3 * H])  # dg
        dc_n *= dc_dc_prev[t, :n]  # becomes dc_{t-1}
        # i, f, g, o = σ(a_i), σ(a_f), tanh(a_c), σ(a_o)
        da *= gate_derivs[t, :n]
        if n < N:
            np.copyto(da_all[t, n:], 0)
        # a = x_t·Wx + h_{t-1}·Wh + b
        passed = dh_n * dh_passed[t, :n] if t in holes else None  # h passed through at padded steps
        np.matmul(da, Wh_T, out=dh_n)
        if passed is not None:
            dh_n += passed

    # The weight gradients, summed over all steps: one matmul each.
    da_flat = da_all.reshape(T * N, 4 * H)
    dWx = xs.reshape(T * N, D).T @ da_flat
    dWh = hs[:T].reshape(T * N, H).T @ da_flat
    db = da_flat.sum(axis=0)
    dx = (da_flat @ Wx.T).reshape(T, N, D).transpose(1, 0, 2) if input_grad else None
    return LSTMGrads(dx, dWx, dWh, db, dh, dc)
