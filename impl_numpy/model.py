"""The two model heads, built from layers (listed below), and the twin interface.

pooled:   [Embedding ⊕ features] -> LSTM stack -> mean or max over real steps -> Linear -> softmax CE
          (one label per sequence)
per_step: [Embedding ⊕ features] -> LSTM stack -> Linear at every step -> softmax CE over real tokens

The LSTM stack (stack.py) is L layers, each forward or bidirectional; the harness's dropout
masks multiply each layer's input and the output layer's. With tied embeddings the Linear's
kernel is the embedding's transpose, and the embedding's gradient sums both uses.

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
from .lstm import longest_first
from .output_layer import linear_cross_entropy
from .pooling import masked_max_backward, masked_max_forward, masked_mean_backward, masked_mean_forward
from .sgd import clip_by_global_norm, sgd_update
from .stack import StackCache, stack_backward, stack_forward
from .workspace import Workspace


@dataclass
class NumpyModel:
    spec: ModelSpec
    params: dict[str, np.ndarray]  # canonical names and shapes, all of dtype
    dtype: np.dtype
    workspaces: list[Workspace] = field(default_factory=list)  # each LSTM's scratch arrays, reused


class _Features(NamedTuple):
    """The input to the output layer, and what the backward pass needs."""

    features: np.ndarray  # (N, K·H) pooled, or (N, T, K·H) per step, after the output dropout
    token_mask: Optional[np.ndarray]  # the tokens the loss averages over; None = all
    state: State
    stack: StackCache
    output_dropout: Optional[np.ndarray]  # the output layer's input mask, or None
    max_weights: Optional[np.ndarray]  # max pooling's weights for its backward (N, T, K·H), or None


def build_model(spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> NumpyModel:
    """A model holding copies of the canonical `weights`, cast to `dtype`."""
    dtype = check_dtype(dtype)
    check_weights(spec, weights)
    params = {name: np.array(weights[name], dtype=dtype) for name in spec.weight_shapes()}
    return NumpyModel(spec, params, dtype, [Workspace() for _ in spec.direction_names()])


def get_weights(model: NumpyModel) -> dict[str, np.ndarray]:
    """Copies of the weights in the canonical layout."""
    return {name: w.copy() for name, w in model.params.items()}


def predict(model: NumpyModel, batch: Batch, state: Optional[State] = None):
    """Forward pass only -> (logits, loss, final state).

    logits: (N, C) for the pooled head, (N, T, C) for the per-step head.
    """
    batch, state, order = _longest_first(model.spec, batch, state)
    out = _lstm_features(model, batch, state)
    logits = linear_forward(out.features, _dense_kernel(model), model.params["dense/bias"])
    loss, _ = softmax_cross_entropy(logits, np.asarray(batch.targets), out.token_mask)
    return _unsorted(logits, order), loss, _unsorted_state(out.state, order)


def loss_and_grads(model: NumpyModel, batch: Batch, state: Optional[State] = None):
    """-> (loss, grads, final state); grads has one entry per trainable canonical weight."""
    spec, p = model.spec, model.params
    batch, state, order = _longest_first(spec, batch, state)
    out = _lstm_features(model, batch, state)
    # Linear -> softmax cross-entropy, forward and backward at once: (M, K·H) features, M = N or N·T
    targets = np.asarray(batch.targets).reshape(-1)
    loss, dfeatures, dW, grads_bias = linear_cross_entropy(
        out.features.reshape(-1, spec.output_size), _dense_kernel(model), p["dense/bias"], targets,
        token_weights(out.token_mask, len(targets), model.dtype),
    )
    grads = {"dense/bias": grads_bias}
    dfeatures = dfeatures.reshape(out.features.shape)
    if out.output_dropout is not None:
        dfeatures *= out.output_dropout
    if spec.head == "per_step":
        dh_seq = dfeatures
    elif spec.pooling == "max":
        dh_seq = masked_max_backward(dfeatures, out.max_weights)  # (N, T, K·H)
    else:
        dh_seq = masked_mean_backward(dfeatures, batch.mask, out.stack.lstm[0].xs.shape[0])  # (N, T, K·H)
    train_embedding = spec.has_embedding and spec.train_embedding
    dx, lstm_grads = stack_backward(spec, dh_seq, out.stack, model.workspaces,
                                    input_grad=train_embedding or bool(spec.features))
    grads.update(lstm_grads)
    if spec.features:  # the input was [word vector, feature vectors...]: each takes its columns
        widths = [spec.input_size] + [f.size for f in spec.features]
        parts = np.split(dx, np.cumsum(widths)[:-1], axis=-1)
        dx = parts[0]
        for k, (feature, part) in enumerate(zip(spec.features, parts[1:])):
            grads[f"{feature.name}_embedding"] = embedding_backward(part, batch.features[:, :, k], feature.vocab_size)
    if train_embedding:
        grads["embedding"] = embedding_backward(dx, batch.inputs, spec.vocab_size)
    if spec.tie_embeddings:  # the output layer's kernel is embedding.T: its gradient joins the lookup's
        grads["embedding"] += dW.T
    else:
        grads["dense/kernel"] = dW
    return loss, {name: grads[name] for name in spec.trainable_names()}, _unsorted_state(out.state, order)


def train_step(
    model: NumpyModel, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None
) -> StepResult:
    """One SGD step at learning rate `lr`, the gradients first clipped to global norm `clip_norm` (None: not)."""
    loss, grads, final_state = loss_and_grads(model, batch, state)
    grads, grad_norm = clip_by_global_norm(grads, clip_norm)
    sgd_update(model.params, grads, lr)
    return StepResult(loss, grad_norm, final_state)


def _lstm_features(model: NumpyModel, batch: Batch, state: Optional[State]) -> _Features:
    """[Embedding ⊕ features] -> LSTM stack -> pooled (N, K·H) or per-step (N, T, K·H) features for the
    output layer, after the output dropout."""
    spec, p = model.spec, model.params
    mask = batch.mask
    if spec.has_embedding:
        x = embedding_forward(batch.inputs, p["embedding"])  # (N, T, E)
        if spec.features:
            x = np.concatenate([x] + [embedding_forward(batch.features[:, :, k], p[f"{f.name}_embedding"])
                                      for k, f in enumerate(spec.features)], axis=-1)  # (N, T, E + Σ sizes)
    else:
        x = np.asarray(batch.inputs, dtype=model.dtype)  # (N, T, D)
    dropout = None if batch.dropout is None else tuple(m.astype(model.dtype) for m in batch.dropout)
    h_seq, state, stack = stack_forward(spec, p, x, state, mask, None if dropout is None else dropout[:-1],
                                        model.workspaces)
    features, token_mask, max_weights = h_seq, mask, None
    if spec.head == "pooled":
        token_mask = None
        if spec.pooling == "max":
            features, max_weights = masked_max_forward(h_seq, mask)
        else:
            features = masked_mean_forward(h_seq, mask)
    output_dropout = None if dropout is None else dropout[-1]
    if output_dropout is not None:
        features = features * output_dropout
    return _Features(features, token_mask, state, stack, output_dropout, max_weights)


def _longest_first(spec: ModelSpec, batch: Batch, state: Optional[State]
                   ) -> tuple[Batch, Optional[State], Optional[np.ndarray]]:
    """The batch (checked) and state with their rows sorted by real steps, most first, and that order of the
    rows (None: kept as they are, when there is no padding or the rows are in that order already).
    Sorted so, the rows that have reached their padding at a step are the last ones, and lstm.py leaves them
    out of the step's arithmetic; the loss and the gradients are sums over rows, the same in any order."""
    check_batch(spec, batch, state)
    if batch.mask is None:
        return batch, state, None
    order = longest_first(batch.mask)
    if np.array_equal(order, np.arange(len(order))):
        return batch, state, None

    def rows(array):
        return None if array is None else np.asarray(array)[order]

    batch = Batch(rows(batch.inputs), rows(batch.targets), rows(batch.mask), rows(batch.features),
                  None if batch.dropout is None else tuple(rows(m) for m in batch.dropout))
    return batch, _state_rows(state, order), order


def _unsorted(array: np.ndarray, order: Optional[np.ndarray]) -> np.ndarray:
    """A (N, ...) result of sorted rows, back in the batch's order."""
    return array if order is None else array[np.argsort(order)]


def _unsorted_state(state: State, order: Optional[np.ndarray]) -> State:
    """A (L·K, N, H) state of sorted rows, back in the batch's order."""
    return state if order is None else _state_rows(state, np.argsort(order))


def _state_rows(state: Optional[State], order: np.ndarray) -> Optional[State]:
    """The state's rows (axis 1 of each (L·K, N, H) part) in `order`."""
    return None if state is None else State(*(part[:, order] for part in state))


def _dense_kernel(model: NumpyModel) -> np.ndarray:
    """The output layer's kernel (K·H, C): its own, or the tied embedding's transpose (a view)."""
    return model.params["embedding"].T if model.spec.tie_embeddings else model.params["dense/kernel"]
