"""A twin of your own: one LSTM layer on `impl_numpy/reference_lstm.py`, the model around it in plain NumPy.

This is what `python -m harness check` judges: a module with a NAME and the five functions of
`twin_contract.Twin`, on the canonical weights (Keras's layout: gate blocks i, f, c, o). Check it with

    .venv/bin/python -m harness check examples/one_layer_lstm.py

It covers both heads, an embedding (trained or frozen), padding masks and a carried state, in float32
and float64. What it leaves out it says in UNSUPPORTED, so those cases read "not supported".

    pooled:   [embedding] -> LSTM -> mean over the real steps -> Linear -> softmax cross-entropy per row
    per_step: [embedding] -> LSTM -> Linear at every step -> softmax cross-entropy over the real steps
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from impl_numpy.reference_lstm import lstm_backward, lstm_forward
from twin_contract import Batch, ModelSpec, State, StepResult, check_batch, check_dtype, check_weights

NAME = "one_layer"
UNSUPPORTED = {"layers", "bidirectional", "dropout", "tie_embeddings", "features", "max_pooling"}


@dataclass
class Model:
    spec: ModelSpec
    weights: dict[str, np.ndarray]  # canonical names and shapes, all of one dtype


def build_model(spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> Model:
    check_weights(spec, weights)
    dtype = check_dtype(dtype)
    return Model(spec, {name: np.array(w, dtype=dtype) for name, w in weights.items()})  # copies


def get_weights(model: Model) -> dict[str, np.ndarray]:
    return {name: w.copy() for name, w in model.weights.items()}


def predict(model: Model, batch: Batch, state: Optional[State] = None):
    """-> (logits (N, C) or (N, T, C), loss, final state)."""
    forward = _forward(model, batch, state)
    return forward["logits"], forward["loss"], forward["final"]


def loss_and_grads(model: Model, batch: Batch, state: Optional[State] = None):
    """-> (loss, gradient of every trainable weight, final state)."""
    spec, W = model.spec, model.weights
    f = _forward(model, batch, state)
    H = spec.hidden_size
    dz = f["dlogits"]  # (N, C) or (N, T, C)
    grads = {"dense/kernel": f["features"].reshape(-1, H).T @ dz.reshape(-1, spec.num_classes),
             "dense/bias": dz.reshape(-1, spec.num_classes).sum(axis=0)}
    dfeatures = dz @ W["dense/kernel"].T  # (N, H) or (N, T, H)
    # the mean over real steps: each step's h gets its share of the pooled gradient
    dh_seq = dfeatures[:, None, :] * f["step_weights"][:, :, None] if spec.head == "pooled" else dfeatures
    zeros = np.zeros_like(f["final"].h[0])
    lstm = lstm_backward(dh_seq, zeros, zeros, f["caches"], _mask(batch))
    grads.update({"lstm/kernel": lstm.Wx, "lstm/recurrent_kernel": lstm.Wh, "lstm/bias": lstm.b})
    if spec.has_embedding and spec.train_embedding:
        grads["embedding"] = np.zeros_like(W["embedding"])
        np.add.at(grads["embedding"], batch.inputs, lstm.x)  # each token's row gets its steps' dx
    return f["loss"], grads, f["final"]


def train_step(model: Model, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None):
    """One SGD step, the gradients first scaled to global norm at most clip_norm."""
    loss, grads, final = loss_and_grads(model, batch, state)
    norm = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values())))
    scale = 1.0 if clip_norm is None else clip_norm / max(norm, clip_norm)
    for name, g in grads.items():
        model.weights[name] -= (lr * scale) * g
    return StepResult(loss, norm, final)


def _mask(batch: Batch) -> Optional[np.ndarray]:
    return None if batch.mask is None else np.asarray(batch.mask)


def _forward(model: Model, batch: Batch, state: Optional[State]) -> dict:
    """The forward pass and what loss_and_grads needs from it."""
    spec, W = model.spec, model.weights
    check_batch(spec, batch, state)
    dtype = W["dense/bias"].dtype
    x = W["embedding"][batch.inputs] if spec.has_embedding else np.asarray(batch.inputs, dtype)  # (N, T, D)
    N, T = x.shape[:2]
    h0, c0 = (None, None) if state is None else (np.asarray(state.h[0], dtype), np.asarray(state.c[0], dtype))
    mask = _mask(batch)
    h_seq, (h_T, c_T), caches = lstm_forward(x, W["lstm/kernel"], W["lstm/recurrent_kernel"], W["lstm/bias"],
                                             h0, c0, mask)
    real = np.ones((N, T), dtype) if mask is None else mask.astype(dtype)
    if spec.head == "pooled":
        step_weights = real / real.sum(axis=1, keepdims=True)  # (N, T): the mean over each row's real steps
        features = (h_seq * step_weights[:, :, None]).sum(axis=1)  # (N, H)
        token_weights = np.full(N, 1 / N, dtype)  # the loss: the mean over rows
    else:
        step_weights, features = None, h_seq  # (N, T, H)
        token_weights = real / real.sum()  # the loss: the mean over the real steps
    logits = features @ W["dense/kernel"] + W["dense/bias"]
    # softmax cross-entropy, each token weighted, computed from the log-softmax (stable for large logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    targets = np.asarray(batch.targets)
    picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    loss = float(-(token_weights * picked).sum())
    dlogits = np.exp(log_p)
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1,
                      axis=-1)
    return {"logits": logits, "loss": loss, "final": State(h_T[None], c_T[None]), "caches": caches,
            "features": features, "step_weights": step_weights, "dlogits": dlogits * token_weights[..., None]}
