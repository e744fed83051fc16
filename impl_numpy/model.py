"""The two model heads, built from layers (listed below), and the twin interface.

pooled:   [Embedding] -> LSTM -> mean over real steps -> Linear -> softmax CE (one label per sequence)
per_step: [Embedding] -> LSTM -> Linear at every step -> softmax CE over real tokens

Every public function here has the same name, signature and meaning in impl_tensorflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from twin_contract import (
    Batch,
    ModelSpec,
    State,
    StepResult,
    check_batch,
    check_dtype,
    check_weights,
)

from .embedding import embedding_backward, embedding_forward
from .linear import linear_forward
from .loss import softmax_cross_entropy, token_weights
from .lstm import LSTMCache, lstm_backward, lstm_forward
from .output_layer import linear_cross_entropy
from .pooling import masked_mean_backward, masked_mean_forward
from .sgd import clip_by_global_norm, sgd_update
from .workspace import Workspace


@dataclass
class NumpyModel:
    spec: ModelSpec
    params: dict[str, np.ndarray]  # canonical names and shapes, all of dtype
    dtype: np.dtype
    workspaces: list[Workspace] = field(default_factory=list)  # each LSTM layer's scratch arrays, reused


class _Features(NamedTuple):
    """The input to the output layer, and what the LSTM's backward pass needs."""

    features: np.ndarray  # (N, H) pooled, or (N, T, H) per step
    token_mask: Optional[np.ndarray]  # the tokens the loss averages over; None = all
    state: State
    lstm: list[LSTMCache]  # one per layer, bottom up


def build_model(spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> NumpyModel:
    """A model holding copies of the canonical `weights`, cast to `dtype`."""
    dtype = check_dtype(dtype)
    check_weights(spec, weights)
    params = {name: np.array(weights[name], dtype=dtype) for name in spec.weight_shapes()}
    return NumpyModel(spec, params, dtype, [Workspace() for _ in range(spec.layers)])


def get_weights(model: NumpyModel) -> dict[str, np.ndarray]:
    """Copies of the weights in the canonical layout."""
    return {name: w.copy() for name, w in model.params.items()}


def predict(model: NumpyModel, batch: Batch, state: Optional[State] = None):
    """Forward pass only -> (logits, loss, final state).

    logits: (N, C) for the pooled head, (N, T, C) for the per-step head.
    """
    out = _lstm_features(model, batch, state)
    logits = linear_forward(out.features, model.params["dense/kernel"], model.params["dense/bias"])
    loss, _ = softmax_cross_entropy(logits, np.asarray(batch.targets), out.token_mask)
    return logits, loss, out.state


def loss_and_grads(model: NumpyModel, batch: Batch, state: Optional[State] = None):
    """-> (loss, grads, final state); grads has one entry per trainable canonical weight."""
    spec, p = model.spec, model.params
    out = _lstm_features(model, batch, state)
    grads = {}
    # Linear -> softmax cross-entropy, forward and backward at once: (M, H) features, M = N or N·T
    H = spec.hidden_size
    targets = np.asarray(batch.targets).reshape(-1)
    loss, dfeatures, grads["dense/kernel"], grads["dense/bias"] = linear_cross_entropy(
        out.features.reshape(-1, H), p["dense/kernel"], p["dense/bias"], targets,
        token_weights(out.token_mask, len(targets), model.dtype),
    )
    T = out.lstm[0].xs.shape[0]
    if spec.head == "pooled":
        dh_seq = masked_mean_backward(dfeatures, batch.mask, T)  # (N, T, H)
    else:
        dh_seq = dfeatures.reshape(out.features.shape)
    train_embedding = spec.has_embedding and spec.train_embedding
    for k in reversed(range(spec.layers)):  # the top layer first; each hands its input's gradient down
        lstm = lstm_backward(dh_seq, None, None, out.lstm[k], model.workspaces[k],
                             input_grad=k > 0 or train_embedding)
        name = spec.lstm_names()[k]
        grads[f"{name}/kernel"], grads[f"{name}/recurrent_kernel"], grads[f"{name}/bias"] = lstm.Wx, lstm.Wh, lstm.b
        dh_seq = lstm.x  # (N, T, H) below the top, or (N, T, E) for the embedding
    if train_embedding:
        grads["embedding"] = embedding_backward(dh_seq, batch.inputs, spec.vocab_size)
    return loss, {name: grads[name] for name in spec.trainable_names()}, out.state


def train_step(
    model: NumpyModel, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None
) -> StepResult:
    """One SGD step at learning rate `lr`, the gradients first clipped to global norm `clip_norm` (None: not)."""
    loss, grads, final_state = loss_and_grads(model, batch, state)
    grads, grad_norm = clip_by_global_norm(grads, clip_norm)
    sgd_update(model.params, grads, lr)
    return StepResult(loss, grad_norm, final_state)


def _lstm_features(model: NumpyModel, batch: Batch, state: Optional[State]) -> _Features:
    """[Embedding] -> LSTM -> pooled (N, H) or per-step (N, T, H) features for the output layer."""
    spec, p = model.spec, model.params
    check_batch(spec, batch, state)
    mask = batch.mask
    if spec.has_embedding:
        x = embedding_forward(batch.inputs, p["embedding"])  # (N, T, E)
    else:
        x = np.asarray(batch.inputs, dtype=model.dtype)  # (N, T, D)
    caches, finals = [], []
    for k, name in enumerate(spec.lstm_names()):  # each layer's output sequence is the next one's input
        h0, c0 = (None, None) if state is None else (state.h[k].astype(model.dtype), state.c[k].astype(model.dtype))
        x, final, cache = lstm_forward(
            x, p[f"{name}/kernel"], p[f"{name}/recurrent_kernel"], p[f"{name}/bias"], h0, c0, mask,
            model.workspaces[k]
        )  # x becomes h_seq (N, T, H)
        caches.append(cache)
        finals.append(final)
    state = State(np.stack([h for h, _ in finals]), np.stack([c for _, c in finals]))  # (L, N, H) copies
    if spec.head == "pooled":
        return _Features(masked_mean_forward(x, mask), None, state, caches)
    return _Features(x, mask, state, caches)
