"""The PyTorch twin: the model with PyTorch's own layers (an optional extra: pip install -e '.[torch]').

It implements the twin interface `twin_contract.Twin`, as impl_numpy and impl_tensorflow do.
"""

from .model import build_model, get_weights, loss_and_grads, predict, train_step

NAME = "pytorch"

__all__ = ["NAME", "build_model", "get_weights", "loss_and_grads", "predict", "train_step"]
