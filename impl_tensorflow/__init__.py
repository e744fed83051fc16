"""The TensorFlow twin: the reference model with Keras layers.

It implements the twin interface `twin_contract.Twin`, as impl_numpy does.
"""

from .model import build_model, get_weights, loss_and_grads, predict, train_step

NAME = "tensorflow"

__all__ = ["NAME", "build_model", "get_weights", "loss_and_grads", "predict", "train_step"]
