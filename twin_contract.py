"""The contract between the harness and the twins: the model's shape, a batch, the state, the
step's result, the SGD schedule, and the interface every twin implements (`Twin`).

It belongs to neither side: both twins and the harness import it, and it imports only NumPy,
so the NumPy twin needs nothing but NumPy (and threadpoolctl) to run.

Shape letters used throughout the project:
    N batch size, T time steps, D input features per step, H hidden units,
    V vocabulary size, E embedding size (= D when there is an embedding), C classes,
    L stacked layers, K directions (2 when bidirectional, else 1), F word features.

The checks here are shared by both twins, so a malformed weight dict or batch
gets the same message whichever twin it is handed to.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Protocol, runtime_checkable

import numpy as np

HEADS = ("pooled", "per_step")
POOLINGS = ("mean", "max")
DTYPES = ("float32", "float64")


class Feature(NamedTuple):
    """A word feature (for example the word's shape): its own embedding, concatenated to the word vector.

    name: the weight is f"{name}_embedding", (vocab_size, size); ids in batch.features, 0 at padding.
    """

    name: str
    vocab_size: int
    size: int


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of one model.

    head: "pooled" (LSTM -> masked mean or max over time -> Linear, one label per sequence)
          or "per_step" (LSTM -> Linear at every step, one label per step).
    input_size: D, features per step; the embedding size E when vocab_size is set.
    hidden_size: H, per layer and direction.  num_classes: C.
    vocab_size: V for integer-token inputs (an embedding first), None for float inputs.
    train_embedding: False freezes the embedding (no gradient, no update).
    layers: L stacked LSTMs, each layer's output sequence the next one's input.
    bidirectional: each layer also runs backwards over the real steps (weights `<layer>/backward/…`);
        its output is the forward and backward outputs concatenated, K·H wide (K = 2 directions),
        zero at padded steps (as Keras's Bidirectional).
    tie_embeddings: the output layer's kernel is the embedding's transpose (no `dense/kernel`); needs
        an embedding of K·H columns and one class per token.
    features: word features, each embedded and concatenated to the word vector (the first layer
        then takes E + Σ sizes inputs).
    pooling: the pooled head's summary of the real steps, per unit: "mean", or "max" (its gradient
        shared equally among tied maxima, as TensorFlow's). The per-step head has none ("mean").
    Dropout is not part of the spec: the harness hands its masks in the batch (Batch.dropout).
    """

    head: str
    input_size: int
    hidden_size: int
    num_classes: int
    vocab_size: Optional[int] = None
    train_embedding: bool = True
    layers: int = 1
    bidirectional: bool = False
    tie_embeddings: bool = False
    features: tuple[Feature, ...] = ()
    pooling: str = "mean"

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"ModelSpec.head is {self.head!r}; expected one of {HEADS}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"ModelSpec.pooling is {self.pooling!r}; expected one of {POOLINGS}")
        if self.pooling != "mean" and self.head != "pooled":
            raise ValueError(f"ModelSpec.pooling is {self.pooling!r} with the {self.head} head, which pools "
                             "nothing: use the pooled head or pooling 'mean'")
        for name in ("input_size", "hidden_size", "num_classes", "layers"):
            _check_positive_int(f"ModelSpec.{name}", getattr(self, name))
        if self.vocab_size is not None:
            _check_positive_int("ModelSpec.vocab_size", self.vocab_size)
        for feature in self.features:
            _check_positive_int(f"ModelSpec.features {feature.name} vocab_size", feature.vocab_size)
            _check_positive_int(f"ModelSpec.features {feature.name} size", feature.size)
        if self.features and not self.has_embedding:
            raise ValueError("ModelSpec.features need token inputs (vocab_size set): they join the word vector")
        if self.tie_embeddings:
            if not (self.has_embedding and self.train_embedding):
                raise ValueError("ModelSpec.tie_embeddings needs a trainable embedding (vocab_size set, "
                                 "train_embedding True): the output layer trains through it")
            if self.num_classes != self.vocab_size or self.output_size != self.input_size:
                raise ValueError(
                    f"ModelSpec.tie_embeddings needs num_classes = vocab_size ({self.num_classes} vs "
                    f"{self.vocab_size}) and the last layer's output size = the embedding size "
                    f"({self.output_size} vs {self.input_size})")

    @property
    def has_embedding(self) -> bool:
        return self.vocab_size is not None

    @property
    def directions(self) -> int:
        """K: 2 for a bidirectional model, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """K·H: the width of each layer's output sequence, and the output layer's input."""
        return self.directions * self.hidden_size

    def layer_input_size(self, k: int) -> int:
        """The width of layer k's input: E + Σ feature sizes (or D) for the first, K·H above it."""
        return self.input_size + sum(f.size for f in self.features) if k == 0 else self.output_size

    def lstm_names(self) -> list[str]:
        """Each LSTM layer's weight prefix, bottom up, as Keras names them: lstm, lstm_1, lstm_2, ..."""
        return ["lstm"] + [f"lstm_{k}" for k in range(1, self.layers)]

    def direction_names(self) -> list[str]:
        """Each LSTM's prefix, layer by layer and forward before backward: lstm, lstm/backward, lstm_1, ...

        The order of the carried state's rows (State)."""
        suffixes = ("", "/backward")[: self.directions]
        return [name + suffix for name in self.lstm_names() for suffix in suffixes]

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical (Keras) layout: name -> shape, gate blocks in order i, f, c, o."""
        H, K = self.hidden_size, self.directions
        shapes = {}
        if self.has_embedding:
            shapes["embedding"] = (self.vocab_size, self.input_size)
        for feature in self.features:
            shapes[f"{feature.name}_embedding"] = (feature.vocab_size, feature.size)
        for j, name in enumerate(self.direction_names()):
            shapes[f"{name}/kernel"] = (self.layer_input_size(j // K), 4 * H)
            shapes[f"{name}/recurrent_kernel"] = (H, 4 * H)
            shapes[f"{name}/bias"] = (4 * H,)
        if not self.tie_embeddings:
            shapes["dense/kernel"] = (self.output_size, self.num_classes)
        shapes["dense/bias"] = (self.num_classes,)
        return shapes

    def trainable_names(self) -> list[str]:
        """Names of the weights that get gradients and SGD updates."""
        return [n for n in self.weight_shapes() if n != "embedding" or self.train_embedding]

    def dropout_shapes(self, N: int, T: int) -> list[tuple[int, ...]]:
        """The shapes of Batch.dropout's masks: each layer's input (N, T, width), bottom up, then the
        output layer's input, (N, K·H) pooled or (N, T, K·H) per step."""
        top = (N, self.output_size) if self.head == "pooled" else (N, T, self.output_size)
        return [(N, T, self.layer_input_size(k)) for k in range(self.layers)] + [top]


class Batch(NamedTuple):
    """One batch, identical for both twins.

    inputs:  (N, T, D) floats, or (N, T) int token ids when the model has an embedding.
    targets: (N,) int class per sequence (pooled head) or (N, T) int class per step.
    mask:    (N, T) bool, True at real steps, False at padding; None = all steps real.
    features: (N, T, F) int ids of the spec's word features, in its order (0 at padding); None without.
    dropout: the dropout masks of a training step, shapes ModelSpec.dropout_shapes(N, T): each 0
             (dropped) or 1/(1 − p) (kept, inverted scaling), multiplied into each layer's input and
             the output layer's; None = no dropout (evaluation, or p = 0). The harness draws them.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: Optional[np.ndarray] = None
    features: Optional[np.ndarray] = None
    dropout: Optional[tuple[np.ndarray, ...]] = None


class State(NamedTuple):
    """LSTM state carried between batches: h and c, each (L·K, N, H), one (N, H) per layer and direction,
    in the order of ModelSpec.direction_names() (bottom up, forward before backward)."""

    h: np.ndarray
    c: np.ndarray


class StepResult(NamedTuple):
    """What a twin's train_step returns."""

    loss: float  # before the update
    grad_norm: float  # global norm of the gradients, before clipping
    state: State  # final LSTM state of the batch, to carry into the next one


# The parts of the LSTM family a twin may leave out: a module that sets UNSUPPORTED = {"bidirectional", ...}
# (names from here) is judged only on the rest; `harness check` shows the cases that need them as
# "not supported", never as passed.
FAMILY = {
    "float32": "computes in float32",
    "float64": "computes in float64",
    "embedding": "token inputs through an embedding (ModelSpec.vocab_size)",
    "frozen_embedding": "an embedding without gradient (train_embedding False)",
    "mask": "padded steps (Batch.mask), the state carried through them",
    "carried_state": "a State handed in, the final one handed out (the language model)",
    "layers": "stacked LSTMs (ModelSpec.layers > 1)",
    "bidirectional": "a backward direction over the real steps",
    "dropout": "the harness's dropout masks (Batch.dropout)",
    "tie_embeddings": "the output kernel as the embedding's transpose",
    "features": "word features beside the word vector",
    "max_pooling": "the pooled head's max over the real steps",
}


@runtime_checkable
class Twin(Protocol):
    """What every twin (the modules impl_numpy, impl_pytorch, impl_tensorflow, or one of your own) provides,
    with these signatures. NAME names its runs' files: lower-case letters, digits and _, starting with a letter.
    Optionally UNSUPPORTED, a set of FAMILY names the twin leaves out."""

    NAME: str

    def build_model(self, spec: ModelSpec, weights: dict[str, np.ndarray], dtype="float32") -> Any:
        """A model holding copies of the canonical `weights`, cast to `dtype`."""

    def get_weights(self, model: Any) -> dict[str, np.ndarray]:
        """Copies of the weights in the canonical layout."""

    def predict(self, model: Any, batch: Batch, state: Optional[State] = None) -> tuple[np.ndarray, float, State]:
        """Forward pass only -> (logits (N, C) or (N, T, C), loss, final state)."""

    def loss_and_grads(
        self, model: Any, batch: Batch, state: Optional[State] = None
    ) -> tuple[float, dict[str, np.ndarray], State]:
        """-> (loss, gradient of every trainable canonical weight, final state)."""

    def train_step(
        self, model: Any, batch: Batch, lr: float, clip_norm: Optional[float], state: Optional[State] = None
    ) -> StepResult:
        """One SGD step at learning rate `lr`, the gradients first clipped to global norm `clip_norm` (None: not)."""


def contract_problems(module) -> list[str]:
    """One line per way `module` breaks the Twin interface: a missing or ill-formed NAME, a missing function,
    one whose parameters are not the Twin's (extra ones need defaults), an UNSUPPORTED name not in FAMILY."""
    problems = []
    name = getattr(module, "NAME", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"NAME is {name!r}; expected a string of lower-case letters, digits and _ "
                        "(it names the run files)")
    for function in ("build_model", "get_weights", "predict", "loss_and_grads", "train_step"):
        expected = list(inspect.signature(getattr(Twin, function)).parameters.values())[1:]  # without self
        found = getattr(module, function, None)
        if found is None:
            problems.append(f"{function} is missing")
            continue
        if not callable(found):
            problems.append(f"{function} is not a function")
            continue
        try:
            parameters = list(inspect.signature(found).parameters.values())
        except (TypeError, ValueError):
            continue  # a builtin without a signature: called as it is
        wanted = f"{function}({', '.join(p.name for p in expected)})"
        names = [p.name for p in parameters[: len(expected)]]
        if names != [p.name for p in expected]:
            problems.append(f"{function}({', '.join(p.name for p in parameters)}) should be {wanted}")
        elif any(p.default is inspect.Parameter.empty for p, e in zip(parameters, expected)
                 if e.default is not inspect.Parameter.empty):
            problems.append(f"{function}: give {', '.join(e.name for e in expected if e.default is not e.empty)} "
                            f"the Twin's defaults, as in {wanted}")
        elif any(p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                 for p in parameters[len(expected):]):
            problems.append(f"{function}'s parameters beyond {wanted} need defaults")
    unsupported = getattr(module, "UNSUPPORTED", frozenset())
    if isinstance(unsupported, str) or not all(isinstance(part, str) for part in _iterable(unsupported)):
        problems.append(f"UNSUPPORTED is {unsupported!r}; expected a set of names from twin_contract.FAMILY")
    else:
        unknown = sorted(set(unsupported) - set(FAMILY))
        if unknown:
            problems.append(f"UNSUPPORTED names {unknown}, not parts of twin_contract.FAMILY {sorted(FAMILY)}")
    return problems


def _iterable(value) -> tuple:
    try:
        return tuple(value)
    except TypeError:
        return (None,)


@dataclass(frozen=True)
class Schedule:
    """Plain SGD as the harness runs it: learning rate lr0 / (1 + decay * epoch), gradients clipped to
    clip_norm (None: no clipping). The twins get each step's lr and clip_norm, never the schedule."""

    lr0: float
    decay: float = 0.0
    clip_norm: Optional[float] = None

    def learning_rate(self, epoch: int) -> float:
        """lr0 / (1 + decay · epoch), epoch counted from 0."""
        return self.lr0 / (1.0 + self.decay * epoch)


def check_dtype(dtype) -> np.dtype:
    """The dtype as np.dtype, or a ValueError naming the allowed ones."""
    name = np.dtype(dtype).name if dtype is not None and _is_dtype_like(dtype) else repr(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype is {name}; expected one of {DTYPES}")
    return np.dtype(name)


def check_weights(spec: ModelSpec, weights: dict) -> None:
    """Raise ValueError naming the first missing, extra or mis-shaped weight."""
    expected = spec.weight_shapes()
    missing = [n for n in expected if n not in weights]
    if missing:
        raise ValueError(f"weights is missing {missing}; expected names {list(expected)}")
    extra = [n for n in weights if n not in expected]
    if extra:
        raise ValueError(f"weights has unexpected names {extra}; expected names {list(expected)}")
    for name, shape in expected.items():
        actual = np.shape(weights[name])
        if actual != shape:
            raise ValueError(f"weights[{name!r}] has shape {actual}; expected {shape}")
        if not np.all(np.isfinite(weights[name])):
            raise ValueError(f"weights[{name!r}] contains NaN or Inf")


def check_batch(spec: ModelSpec, batch: Batch, state: Optional[State] = None) -> None:
    """Raise ValueError naming the first array of `batch` or `state` that does not fit `spec`."""
    inputs = np.asarray(batch.inputs)
    if spec.has_embedding:
        if inputs.ndim != 2 or not np.issubdtype(inputs.dtype, np.integer):
            raise ValueError(
                f"batch.inputs has shape {inputs.shape} and dtype {inputs.dtype}; "
                "expected (N, T) integer token ids"
            )
        if inputs.size and (inputs.min() < 0 or inputs.max() >= spec.vocab_size):
            raise ValueError(
                f"batch.inputs holds token ids in [{inputs.min()}, {inputs.max()}]; "
                f"expected ids in [0, {spec.vocab_size - 1}]"
            )
        N, T = inputs.shape
    else:
        if inputs.ndim != 3 or inputs.shape[2] != spec.input_size:
            raise ValueError(
                f"batch.inputs has shape {inputs.shape}; expected (N, T, D) with D = {spec.input_size}"
            )
        N, T, _ = inputs.shape
    if N == 0 or T == 0:
        raise ValueError(f"batch.inputs has shape {inputs.shape}; expected N >= 1 and T >= 1")

    expected_targets = (N,) if spec.head == "pooled" else (N, T)
    targets = np.asarray(batch.targets)
    if targets.shape != expected_targets or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"batch.targets has shape {targets.shape} and dtype {targets.dtype}; "
            f"expected {expected_targets} integer classes for the {spec.head} head"
        )
    if targets.min() < 0 or targets.max() >= spec.num_classes:
        raise ValueError(
            f"batch.targets holds classes in [{targets.min()}, {targets.max()}]; "
            f"expected classes in [0, {spec.num_classes - 1}]"
        )

    if batch.mask is not None:
        mask = np.asarray(batch.mask)
        if mask.shape != (N, T) or mask.dtype != np.bool_:
            raise ValueError(
                f"batch.mask has shape {mask.shape} and dtype {mask.dtype}; expected ({N}, {T}) bool"
            )
        if spec.head == "pooled" and not mask.any(axis=1).all():
            raise ValueError("batch.mask has a row with no real step; each sequence needs at least one")
        if spec.head == "per_step" and not mask.any():
            raise ValueError("batch.mask has no real step; the loss would be undefined")

    _check_features(spec, batch.features, N, T)
    if batch.dropout is not None:
        shapes = spec.dropout_shapes(N, T)
        if len(batch.dropout) != len(shapes):
            raise ValueError(f"batch.dropout has {len(batch.dropout)} masks; expected {len(shapes)} "
                             "(one per layer's input and one for the output layer's)")
        for k, (mask, shape) in enumerate(zip(batch.dropout, shapes)):
            if np.shape(mask) != shape:
                raise ValueError(f"batch.dropout[{k}] has shape {np.shape(mask)}; expected {shape}")

    if state is not None:
        rows, H = spec.layers * spec.directions, spec.hidden_size
        for name, array in zip(State._fields, state):
            if np.shape(array) != (rows, N, H):
                raise ValueError(f"state.{name} has shape {np.shape(array)}; expected ({rows}, {N}, {H})")


def _check_features(spec: ModelSpec, features, N: int, T: int) -> None:
    F = len(spec.features)
    if features is None:
        if F:
            names = [f.name for f in spec.features]
            raise ValueError(f"batch.features is None; the model reads {F} word features {names}")
        return
    features = np.asarray(features)
    if features.shape != (N, T, F) or not np.issubdtype(features.dtype, np.integer):
        raise ValueError(f"batch.features has shape {features.shape} and dtype {features.dtype}; "
                         f"expected ({N}, {T}, {F}) integer ids")
    for k, feature in enumerate(spec.features):
        ids = features[:, :, k]
        if ids.min() < 0 or ids.max() >= feature.vocab_size:
            raise ValueError(f"batch.features holds {feature.name} ids in [{ids.min()}, {ids.max()}]; "
                             f"expected ids in [0, {feature.vocab_size - 1}]")


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} is {value!r}; expected a positive integer")


def _is_dtype_like(dtype) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True
