"""The TensorFlow twin: the same two heads with Keras's own layers, trained by a compiled step.

Keras's Embedding, LSTM (activation tanh, recurrent activation sigmoid, gate order
i, f, c, o, masking that carries the state through padded steps), Bidirectional (merge
mode concat) and Dense compute exactly what impl_numpy computes; the harness's dropout
masks are multiplied in, and the masked pooling (mean or max), the masked loss, the tied output layer
(a matmul with the embedding matrix), clipping and the SGD update are written with plain
TensorFlow ops.

Every public function here has the same name, signature and meaning in impl_numpy.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Optional

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ notices; its errors still raise in Python


@contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ start-up lines (absl's "before InitializeLog" warning and oneDNN's notice, twice
    each, written straight to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says) go to /dev/null
    while it loads; Python's own errors still reach stderr once it is restored."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    import keras
    import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # no retracing notices: the compiled steps retrace by design on new shapes

from twin_contract import (
    Batch,
    ModelSpec,
    State,
    StepResult,
    check_batch,
    check_dtype,
    check_weights,
)


class TensorflowModel:
    """Keras layers holding the canonical weights, plus compiled gradient and training steps."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], dtype: np.dtype):
        self.spec, self.dtype = spec, dtype
        self.variables = {}
        self.embedding, self.feature_embeddings = None, []
        if spec.has_embedding:
            self.embedding = keras.layers.Embedding(
                spec.vocab_size, spec.input_size, trainable=spec.train_embedding, dtype=dtype.name
            )
            self.embedding.build((None, None))
            self.variables["embedding"] = self.embedding.embeddings
        for feature in spec.features:
            layer = keras.layers.Embedding(feature.vocab_size, feature.size, dtype=dtype.name)
            layer.build((None, None))
            self.feature_embeddings.append(layer)
            self.variables[f"{feature.name}_embedding"] = layer.embeddings
        self.lstms = []  # stacked, bottom up: LSTM layers, or Bidirectional wrappers of two
        for k, name in enumerate(spec.lstm_names()):
            lstm = keras.layers.LSTM(spec.hidden_size, return_sequences=True, return_state=True, dtype=dtype.name)
            cells = [(name, lstm.cell)]
            if spec.bidirectional:
                lstm = keras.layers.Bidirectional(lstm, merge_mode="concat", dtype=dtype.name)
                cells = [(name, lstm.forward_layer.cell), (f"{name}/backward", lstm.backward_layer.cell)]
            lstm.build((None, None, spec.layer_input_size(k)))
            self.lstms.append(lstm)
            for prefix, cell in cells:
                self.variables.update({f"{prefix}/kernel": cell.kernel, f"{prefix}/bias": cell.bias,
                                       f"{prefix}/recurrent_kernel": cell.recurrent_kernel})
        if spec.tie_embeddings:  # the kernel is the embedding's transpose: only the bias is the output layer's own
            self.dense = None
            self.variables["dense/bias"] = tf.Variable(np.zeros(spec.num_classes, dtype), name="dense/bias")
        else:
            self.dense = keras.layers.Dense(spec.num_classes, dtype=dtype.name)
            self.dense.build((None, spec.output_size))
            self.variables.update({"dense/kernel": self.dense.kernel, "dense/bias": self.dense.bias})
        self.variables = {name: self.variables[name] for name in spec.weight_shapes()}  # the canonical order
        for name, variable in self.variables.items():
            variable.assign(np.asarray(weights[name], dtype=dtype))
        self.trainable = [self.variables[name] for name in spec.trainable_names()]

        self.compiled_predict = tf.function(self._predict, reduce_retracing=True)
        self.compiled_loss_and_grads = tf.function(self._loss_and_grads, reduce_retracing=True)
        self.compiled_train_step = tf.function(self._train_step, reduce_retracing=True)

    def _predict(self, inputs, targets, mask, features, dropout, h0, c0):
        """-> logits (N, C) or (N, T, C), loss, h_T, c_T (each (L·K, N, H))."""
        h_seq = inputs if self.embedding is None else self.embedding(inputs)  # (N, T, D)
        if self.feature_embeddings:
            h_seq = tf.concat([h_seq] + [layer(features[:, :, k]) for k, layer in enumerate(self.feature_embeddings)],
                              axis=-1)
        K = self.spec.directions
        h_T, c_T = [], []
        for k, lstm in enumerate(self.lstms):  # each layer's output sequence is the next one's input
            if dropout is not None:
                h_seq = h_seq * dropout[k]
            initial_state = None
            if h0 is not None:  # Bidirectional takes the forward (h, c), then the backward (h, c)
                initial_state = [s[k * K + d] for d in range(K) for s in (h0, c0)]
            h_seq, *finals = lstm(h_seq, initial_state=initial_state, mask=mask)  # (N, T, K·H)
            h_T += finals[0::2]
            c_T += finals[1::2]
        h_T, c_T = tf.stack(h_T), tf.stack(c_T)
        if self.spec.head == "pooled":
            features = (_masked_max if self.spec.pooling == "max" else _masked_mean)(h_seq, mask)  # (N, K·H)
            token_mask = None
        else:
            features = h_seq
            token_mask = mask
        if dropout is not None:
            features = features * dropout[-1]
        if self.dense is None:  # tied: features · embeddingᵀ + bias
            logits = tf.linalg.matmul(features, self.embedding.embeddings, transpose_b=True)
            logits += self.variables["dense/bias"]
        else:
            logits = self.dense(features)
        token_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        return logits, _masked_mean_all(token_losses, token_mask), h_T, c_T

    def _loss_and_grads(self, inputs, targets, mask, features, dropout, h0, c0):
        with tf.GradientTape() as tape:
            _, loss, h_T, c_T = self._predict(inputs, targets, mask, features, dropout, h0, c0)
        return loss, tape.gradient(loss, self.trainable), h_T, c_T

    def _train_step(self, inputs, targets, mask, features, dropout, h0, c0, lr, clip_norm):
        loss, grads, h_T, c_T = self._loss_and_grads(inputs, targets, mask, features, dropout, h0, c0)
        grads = [_sum_repeated_rows(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        if clip_norm is None:
            grad_norm = tf.linalg.global_norm(grads)
        else:
            grads, grad_norm = tf.clip_by_global_norm(grads, clip_norm)
        for variable, grad in zip(self.trainable, grads):
            if isinstance(grad, tf.IndexedSlices):  # an embedding: update only the rows looked up
                variable.value.scatter_sub(tf.IndexedSlices(lr * grad.values, grad.indices))
            else:
                variable.assign_sub(lr * grad)
        return loss, grad_norm, h_T, c_T

    def tensors(self, batch: Batch, state: Optional[State]) -> tuple:
        """The batch and state as the compiled functions' first seven arguments."""
        check_batch(self.spec, batch, state)
        inputs = batch.inputs if self.spec.has_embedding else np.asarray(batch.inputs, self.dtype)
        mask = None if batch.mask is None else tf.constant(batch.mask)
        features = None if batch.features is None else tf.constant(batch.features)
        dropout = None if batch.dropout is None else tuple(_tensor(m, self.dtype) for m in batch.dropout)
        h0, c0 = (None, None) if state is None else (_tensor(state.h, self.dtype), _tensor(state.c, self.dtype))
        return tf.constant(inputs), tf.constant(batch.targets), mask, features, dropout, h0, c0


def build_model(spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> TensorflowModel:
    """A model holding copies of the canonical `weights`, cast to `dtype`."""
    dtype = check_dtype(dtype)
    check_weights(spec, weights)
    return TensorflowModel(spec, weights, dtype)


def get_weights(model: TensorflowModel) -> dict[str, np.ndarray]:
    """Copies of the weights in the canonical layout."""
    return {name: variable.numpy().copy() for name, variable in model.variables.items()}


def predict(model: TensorflowModel, batch: Batch, state: Optional[State] = None):
    """Forward pass only -> (logits, loss, final state).

    logits: (N, C) for the pooled head, (N, T, C) for the per-step head.
    """
    logits, loss, h_T, c_T = model.compiled_predict(*model.tensors(batch, state))
    return logits.numpy(), float(loss), State(h_T.numpy(), c_T.numpy())


def loss_and_grads(model: TensorflowModel, batch: Batch, state: Optional[State] = None):
    """-> (loss, grads, final state); grads has one entry per trainable canonical weight."""
    loss, grads, h_T, c_T = model.compiled_loss_and_grads(*model.tensors(batch, state))
    names = model.spec.trainable_names()
    return float(loss), {n: _dense(g) for n, g in zip(names, grads)}, State(h_T.numpy(), c_T.numpy())


def train_step(
    model: TensorflowModel, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None
) -> StepResult:
    """One SGD step at learning rate `lr`, the gradients first clipped to global norm `clip_norm` (None: not)."""
    lr = tf.constant(lr, model.dtype.name)
    clip_norm = None if clip_norm is None else tf.constant(clip_norm, model.dtype.name)
    loss, grad_norm, h_T, c_T = model.compiled_train_step(*model.tensors(batch, state), lr, clip_norm)
    return StepResult(float(loss), float(grad_norm), State(h_T.numpy(), c_T.numpy()))


def _masked_mean(h_seq, mask):
    """h_seq (N, T, H), mask (N, T) or None -> mean over the real steps (N, H)."""
    if mask is None:
        return tf.reduce_mean(h_seq, axis=1)
    m = tf.cast(mask, h_seq.dtype)[:, :, None]
    return tf.reduce_sum(h_seq * m, axis=1) / tf.reduce_sum(m, axis=1)


def _masked_max(h_seq, mask):
    """h_seq (N, T, H), mask (N, T) or None -> maximum over the real steps (N, H); reduce_max's gradient
    shares a unit's among its tied maxima."""
    if mask is None:
        return tf.reduce_max(h_seq, axis=1)
    return tf.reduce_max(tf.where(mask[:, :, None], h_seq, tf.constant(-np.inf, h_seq.dtype)), axis=1)


def _masked_mean_all(values, mask):
    """Mean of all entries of `values` where mask is True (all of them if mask is None)."""
    if mask is None:
        return tf.reduce_mean(values)
    m = tf.cast(mask, values.dtype)
    return tf.reduce_sum(values * m) / tf.reduce_sum(m)


def _sum_repeated_rows(grad: tf.IndexedSlices) -> tf.IndexedSlices:
    """An embedding gradient with one slice per distinct row.

    Keras gives one slice per token, so a row looked up twice appears twice, and
    the global norm of such slices is not the norm of the gradient.
    """
    rows, position = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, position, tf.shape(rows)[0])
    return tf.IndexedSlices(values, rows, grad.dense_shape)


def _tensor(array, dtype):
    return tf.constant(np.asarray(array, dtype=dtype))


def _dense(grad) -> np.ndarray:
    """A gradient as a dense array (an embedding's gradient comes as IndexedSlices)."""
    return tf.convert_to_tensor(grad).numpy()
