"""The LSTM stack: layers and directions composed from lstm.py, with the harness's dropout masks.

    x ─(× dropout mask 0)→ layer 0 ─(× mask 1)→ layer 1 → … → layer L−1 → h_seq (N, T, K·H)

Layer k's input is multiplied by its dropout mask (each entry 0, or 1/(1 − p): the scaling is
in the mask), and its output sequence is the next layer's input. No new cell code: a
bidirectional layer is two lstm.py LSTMs. The backward one runs over the time-reversed
sequence and mask, and its outputs are reversed back; since padded steps carry the state
through unchanged (lstm.py), it reads exactly the real steps, last to first, on either
padding side and around holes. The two output sequences are concatenated, forward first,
and zeroed at padded steps, as Keras's Bidirectional does.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from twin_contract import ModelSpec, State

from .lstm import LSTMCache, lstm_backward, lstm_forward
from .workspace import Workspace


class StackCache(NamedTuple):
    """What stack_backward needs from stack_forward."""

    lstm: list[LSTMCache]  # one per layer and direction, in ModelSpec.direction_names() order
    mask: Optional[np.ndarray]  # (N, T) bool, or None
    dropout: Optional[tuple[np.ndarray, ...]]  # the layers' input masks, cast to the model's dtype


def stack_forward(
    spec: ModelSpec, params: dict[str, np.ndarray], x: np.ndarray, state: Optional[State],
    mask: Optional[np.ndarray], dropout: Optional[tuple[np.ndarray, ...]], workspaces: list[Workspace],
) -> tuple[np.ndarray, State, StackCache]:
    """x (N, T, D) through the L layers -> h_seq (N, T, K·H), final state ((L·K, N, H) each), cache.

    state: the initial (h, c), or None for zeros. dropout: one mask per layer's input, or None.
    workspaces: one per layer and direction.
    """
    K, names = spec.directions, spec.direction_names()
    caches, finals = [], []
    for k in range(spec.layers):
        if dropout is not None:
            x = x * dropout[k]
        outputs = []
        for d in range(K):
            j = k * K + d
            h0, c0 = (None, None) if state is None else (state.h[j].astype(x.dtype), state.c[j].astype(x.dtype))
            p = [params[f"{names[j]}/{part}"] for part in ("kernel", "recurrent_kernel", "bias")]
            if d == 0:
                h_seq, final, cache = lstm_forward(x, *p, h0, c0, mask, workspaces[j])
            else:  # backwards: the reversed sequence in, the outputs reversed back
                h_seq, final, cache = lstm_forward(x[:, ::-1], *p, h0, c0, _reversed(mask), workspaces[j])
                h_seq = h_seq[:, ::-1]
            outputs.append(h_seq)
            caches.append(cache)
            finals.append(final)
        x = outputs[0] if K == 1 else _zero_padding(np.concatenate(outputs, axis=-1), mask)  # (N, T, K·H)
    state = State(np.stack([h for h, _ in finals]), np.stack([c for _, c in finals]))  # copies
    return x, state, StackCache(caches, mask, dropout)


def stack_backward(
    spec: ModelSpec, dh_seq: np.ndarray, cache: StackCache, workspaces: list[Workspace], input_grad: bool
) -> tuple[Optional[np.ndarray], dict[str, np.ndarray]]:
    """dh_seq (N, T, K·H) -> (dx (N, T, D) or None when not input_grad, each LSTM weight's gradient)."""
    K, H, names = spec.directions, spec.hidden_size, spec.direction_names()
    grads = {}
    for k in reversed(range(spec.layers)):  # the top layer first; each hands its input's gradient down
        if K == 2:
            dh_seq = _zero_padding(dh_seq, cache.mask)
        needs_dx = k > 0 or input_grad
        dx = None
        for d in range(K):
            j = k * K + d
            dh = dh_seq[:, :, d * H : (d + 1) * H]
            lstm = lstm_backward(dh if d == 0 else dh[:, ::-1], None, None, cache.lstm[j], workspaces[j],
                                 input_grad=needs_dx)
            grads[f"{names[j]}/kernel"], grads[f"{names[j]}/recurrent_kernel"], grads[f"{names[j]}/bias"] = (
                lstm.Wx, lstm.Wh, lstm.b)
            if needs_dx:
                dx_d = lstm.x if d == 0 else lstm.x[:, ::-1]
                dx = dx_d if dx is None else dx + dx_d
        if needs_dx and cache.dropout is not None:
            dx = dx * cache.dropout[k]
        dh_seq = dx
    return dh_seq, grads


def _reversed(mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if mask is None else mask[:, ::-1]


def _zero_padding(h_seq: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    """h_seq (N, T, W) with zeros at the padded steps (a copy), or h_seq itself when nothing is padded."""
    return h_seq if mask is None else h_seq * mask[:, :, None]
