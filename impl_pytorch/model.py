"""The PyTorch twin: the same two heads with PyTorch's own layers, trained by torch.optim.SGD.

nn.Embedding, nn.LSTM (one per layer, so that the harness's dropout masks go between layers;
bidirectional=True for the two directions), nn.Linear and F.cross_entropy compute what impl_numpy
computes; the masked pooling (mean or max), the masked mean of the loss, the tied output layer
(F.linear with the embedding matrix) and the clipping's scale are written with plain torch ops.

Canonical weights (Keras's layout) in and out: PyTorch keeps a layer's kernels transposed, (4H, D),
in the same gate order (its i, f, g, o is Keras's i, f, c, o), and two biases where Keras has one:
`bias_ih` is the canonical bias, `bias_hh` stays zero and frozen.

Masks, as Keras reads them (a padded step carries h and c; the backward direction reads only the
real steps, last to first, whatever the padding side), come from PyTorch's packed sequences, which
run each row over its first `length` steps:
- no mask: the LSTM runs on the batch as it is;
- post-padding (each row's real steps first): packed as it is;
- pre-padding, or holes anywhere: each row's real steps are first gathered to its front, in order,
  then packed, and the outputs put back where they came from (a gather and its inverse per layer).
At a padded step the output is Keras's: carried from the last real step (one direction), zero (two).

Every public function here has the same name, signature and meaning in impl_numpy.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from twin_contract import Batch, ModelSpec, State, StepResult, check_batch, check_dtype, check_weights

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class PytorchModel:
    """PyTorch layers holding the canonical weights, and the optimizer that trains them."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray], dtype: np.dtype):
        self.spec, self.dtype = spec, dtype
        torch_dtype = TORCH_DTYPES[dtype.name]
        self.parameters: dict[str, tuple[nn.Parameter, bool]] = {}  # canonical name -> (tensor, transposed)
        self.embedding, self.feature_embeddings = None, []
        if spec.has_embedding:
            self.embedding = nn.Embedding(spec.vocab_size, spec.input_size, dtype=torch_dtype)
            self.parameters["embedding"] = (self.embedding.weight, False)
        for feature in spec.features:
            layer = nn.Embedding(feature.vocab_size, feature.size, dtype=torch_dtype)
            self.feature_embeddings.append(layer)
            self.parameters[f"{feature.name}_embedding"] = (layer.weight, False)
        self.lstms = []  # stacked, bottom up; each one layer, both directions when bidirectional
        for k, name in enumerate(spec.lstm_names()):
            lstm = nn.LSTM(spec.layer_input_size(k), spec.hidden_size, batch_first=True,
                           bidirectional=spec.bidirectional, dtype=torch_dtype)
            self.lstms.append(lstm)
            for prefix, suffix in [(name, ""), (f"{name}/backward", "_reverse")][: spec.directions]:
                self.parameters[f"{prefix}/kernel"] = (getattr(lstm, f"weight_ih_l0{suffix}"), True)
                self.parameters[f"{prefix}/recurrent_kernel"] = (getattr(lstm, f"weight_hh_l0{suffix}"), True)
                self.parameters[f"{prefix}/bias"] = (getattr(lstm, f"bias_ih_l0{suffix}"), False)
                bias_hh = getattr(lstm, f"bias_hh_l0{suffix}")  # Keras has one bias: this one is zero, frozen
                bias_hh.requires_grad_(False)
                with torch.no_grad():
                    bias_hh.zero_()
        if spec.tie_embeddings:  # the kernel is the embedding's transpose: only the bias is the output layer's own
            self.dense = None
            self.parameters["dense/bias"] = (nn.Parameter(torch.zeros(spec.num_classes, dtype=torch_dtype)), False)
        else:
            self.dense = nn.Linear(spec.output_size, spec.num_classes, dtype=torch_dtype)
            self.parameters.update({"dense/kernel": (self.dense.weight, True), "dense/bias": (self.dense.bias, False)})
        self.parameters = {name: self.parameters[name] for name in spec.weight_shapes()}  # the canonical order
        trainable = set(spec.trainable_names())
        with torch.no_grad():
            for name, (parameter, transposed) in self.parameters.items():
                value = np.asarray(weights[name], dtype=dtype)
                parameter.copy_(torch.from_numpy(np.ascontiguousarray(value.T if transposed else value)))
                parameter.requires_grad_(name in trainable)
        self.trainable = [self.parameters[name][0] for name in spec.trainable_names()]
        self.optimizer = torch.optim.SGD(self.trainable, lr=0.0)  # each step sets its learning rate

    def forward(self, inputs, targets, mask, features, dropout, h0, c0):
        """-> logits (N, C) or (N, T, C), loss, h_T, c_T (each (L·K, N, H))."""
        h_seq = inputs if self.embedding is None else self.embedding(inputs)  # (N, T, D)
        if self.feature_embeddings:
            h_seq = torch.cat([h_seq] + [layer(features[:, :, k]) for k, layer in enumerate(self.feature_embeddings)],
                              dim=-1)
        K = self.spec.directions
        steps = _Steps(mask) if mask is not None else None
        h_T, c_T = [], []
        for k, lstm in enumerate(self.lstms):  # each layer's output sequence is the next one's input
            if dropout is not None:
                h_seq = h_seq * dropout[k]
            state = None if h0 is None else (h0[k * K:(k + 1) * K].contiguous(), c0[k * K:(k + 1) * K].contiguous())
            if steps is None:
                h_seq, (h, c) = lstm(h_seq, state)
            else:
                h_seq, (h, c) = steps.run(lstm, h_seq, state)
            h_T.append(h)
            c_T.append(c)
        h_T, c_T = torch.cat(h_T), torch.cat(c_T)
        if self.spec.head == "pooled":
            pooled = _masked_max if self.spec.pooling == "max" else _masked_mean
            outputs, token_mask = pooled(h_seq, mask), None  # (N, K·H)
        else:
            outputs, token_mask = h_seq, mask
        if dropout is not None:
            outputs = outputs * dropout[-1]
        if self.dense is None:  # tied: outputs · embeddingᵀ + bias
            logits = F.linear(outputs, self.embedding.weight, self.parameters["dense/bias"][0])
        else:
            logits = self.dense(outputs)
        token_losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        return logits, _masked_mean_all(token_losses, None if token_mask is None else token_mask.reshape(-1)), h_T, c_T

    def tensors(self, batch: Batch, state: Optional[State]) -> tuple:
        """The batch and state as forward's arguments."""
        check_batch(self.spec, batch, state)
        inputs = np.asarray(batch.inputs, np.int64 if self.spec.has_embedding else self.dtype)
        mask = None if batch.mask is None else torch.from_numpy(np.asarray(batch.mask))
        features = None if batch.features is None else torch.from_numpy(np.asarray(batch.features, np.int64))
        dropout = None if batch.dropout is None else tuple(self._float(m) for m in batch.dropout)
        h0, c0 = (None, None) if state is None else (self._float(state.h), self._float(state.c))
        return (torch.from_numpy(inputs), torch.from_numpy(np.asarray(batch.targets, np.int64)), mask, features,
                dropout, h0, c0)

    def _float(self, array) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=self.dtype))

    def gradients(self, batch: Batch, state: Optional[State]):
        """Loss, final state and the trainable parameters' .grad filled (each as PyTorch lays it out)."""
        self.optimizer.zero_grad(set_to_none=False)
        _, loss, h_T, c_T = self.forward(*self.tensors(batch, state))
        loss.backward()
        return loss, h_T, c_T


class _Steps:
    """A batch's real steps, as packed sequences take them: each row's `length` real steps gathered to its
    front (in order; none to gather for post-padding), run by an nn.LSTM, and put back where they came from."""

    def __init__(self, mask: torch.Tensor):
        N, T = mask.shape
        self.mask, self.T = mask, T
        self.lengths = mask.sum(dim=1)
        self.empty = self.lengths == 0  # a per-step batch may hold a row with no real step
        if torch.equal(mask, torch.arange(T)[None, :] < self.lengths[:, None]):  # post-padding: as it is
            self.order = None
        else:  # real steps first, in order (a stable sort puts False after True)
            self.order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices  # (N, T)
        # step t of a row reads the output of its last real step so far: its place among the gathered ones
        seen = torch.cumsum(mask, dim=1)  # (N, T): real steps up to and including t
        self.latest = (seen - 1).clamp(min=0)
        self.before_first = seen == 0  # no real step yet

    def run(self, lstm: nn.LSTM, x: torch.Tensor, state):
        """x (N, T, D) -> outputs (N, T, K·H) and the final (h, c) after each row's last real step (the
        initial state, for a row with none). At a padded step the output is, as Keras's: one direction, the
        output carried from the last real step (the initial h before the first); two directions, zero."""
        if self.order is not None:
            x = x.gather(1, self.order[:, :, None].expand(-1, -1, x.shape[2]))
        packed = pack_padded_sequence(x, self.lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        out, (h, c) = lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=self.T)
        out = out.gather(1, self.latest[:, :, None].expand(-1, -1, out.shape[2]))
        h0, c0 = state if state is not None else (torch.zeros_like(h), torch.zeros_like(c))
        if lstm.bidirectional:
            out = torch.where(self.mask[:, :, None], out, torch.zeros_like(out))
        else:
            out = torch.where(self.before_first[:, :, None], h0[0][:, None, :], out)
        if self.empty.any():  # such a row ran one padded step only for the packing: its state is as it came
            h = torch.where(self.empty[None, :, None], h0, h)
            c = torch.where(self.empty[None, :, None], c0, c)
        return out, (h, c)


def build_model(spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> PytorchModel:
    """A model holding copies of the canonical `weights`, cast to `dtype`."""
    dtype = check_dtype(dtype)
    check_weights(spec, weights)
    return PytorchModel(spec, weights, dtype)


def get_weights(model: PytorchModel) -> dict[str, np.ndarray]:
    """Copies of the weights in the canonical layout."""
    return {name: _canonical(parameter.detach(), transposed) for name, (parameter, transposed) in
            model.parameters.items()}


def predict(model: PytorchModel, batch: Batch, state: Optional[State] = None):
    """Forward pass only -> (logits, loss, final state).

    logits: (N, C) for the pooled head, (N, T, C) for the per-step head.
    """
    with torch.no_grad():
        logits, loss, h_T, c_T = model.forward(*model.tensors(batch, state))
    return logits.numpy().copy(), float(loss), State(h_T.numpy().copy(), c_T.numpy().copy())


def loss_and_grads(model: PytorchModel, batch: Batch, state: Optional[State] = None):
    """-> (loss, grads, final state); grads has one entry per trainable canonical weight."""
    loss, h_T, c_T = model.gradients(batch, state)
    grads = {name: _canonical(model.parameters[name][0].grad, model.parameters[name][1])
             for name in model.spec.trainable_names()}
    return float(loss.detach()), grads, State(h_T.detach().numpy().copy(), c_T.detach().numpy().copy())


def train_step(
    model: PytorchModel, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None
) -> StepResult:
    """One SGD step at learning rate `lr`, the gradients first clipped to global norm `clip_norm` (None: not).

    The norm is torch's (get_total_norm); the scale is clip_norm / norm as TensorFlow's clip_by_global_norm
    and impl_numpy have it (clip_grad_norm_ adds 1e-6 to the norm, a relative 1e-6 of every clipped step).
    """
    loss, h_T, c_T = model.gradients(batch, state)
    grads = [parameter.grad for parameter in model.trainable]
    grad_norm = float(torch.nn.utils.get_total_norm(grads))
    if clip_norm is not None and grad_norm > clip_norm:
        torch._foreach_mul_(grads, clip_norm / grad_norm)
    for group in model.optimizer.param_groups:
        group["lr"] = lr
    model.optimizer.step()
    return StepResult(float(loss.detach()), grad_norm, State(h_T.detach().numpy().copy(), c_T.detach().numpy().copy()))


def _masked_mean(h_seq, mask):
    """h_seq (N, T, H), mask (N, T) or None -> mean over the real steps (N, H)."""
    if mask is None:
        return h_seq.mean(dim=1)
    m = mask.to(h_seq.dtype)[:, :, None]
    return (h_seq * m).sum(dim=1) / m.sum(dim=1)


def _masked_max(h_seq, mask):
    """h_seq (N, T, H), mask (N, T) or None -> maximum over the real steps (N, H); amax's gradient shares a
    unit's among its tied maxima, as TensorFlow's reduce_max."""
    if mask is None:
        return h_seq.amax(dim=1)
    return torch.where(mask[:, :, None], h_seq, torch.tensor(-torch.inf, dtype=h_seq.dtype)).amax(dim=1)


def _masked_mean_all(values, mask):
    """Mean of all entries of `values` where mask is True (all of them if mask is None)."""
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum()


def _canonical(tensor: torch.Tensor, transposed: bool) -> np.ndarray:
    """A parameter (or its gradient) in the canonical layout, as a new array."""
    array = tensor.numpy()
    return np.ascontiguousarray(array.T if transposed else array).copy()
