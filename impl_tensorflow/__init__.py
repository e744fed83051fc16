"""The TensorFlow twin: the reference model with Keras layers.

Twin interface (the same in impl_numpy):
    build_model(spec, weights, dtype) -> model
    get_weights(model) -> dict of canonical weights
    predict(model, batch, state=None) -> (logits, loss, final state)
    loss_and_grads(model, batch, state=None) -> (loss, grads, final state)
    train_step(model, batch, schedule, epoch, state=None) -> StepResult(loss, grad_norm, state)
"""

from .model import build_model, get_weights, loss_and_grads, predict, train_step

NAME = "tensorflow"

__all__ = ["NAME", "build_model", "get_weights", "loss_and_grads", "predict", "train_step"]
