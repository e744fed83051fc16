"""The NumPy twin: an LSTM written from scratch, NumPy only.

It implements the twin interface `twin_contract.Twin`, as impl_tensorflow does.
"""

from .model import build_model, get_weights, loss_and_grads, predict, train_step

NAME = "numpy"

__all__ = ["NAME", "build_model", "get_weights", "loss_and_grads", "predict", "train_step"]
