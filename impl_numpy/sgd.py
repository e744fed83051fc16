"""Plain SGD: clipping by global norm, and the update (the harness decides each step's learning rate)."""

from __future__ import annotations

from typing import Optional

import numpy as np


def clip_by_global_norm(
    grads: dict[str, np.ndarray], clip_norm: Optional[float]
) -> tuple[dict[str, np.ndarray], float]:
    """Scale all gradients by clip_norm / max(norm, clip_norm), norm = ‖all gradients‖₂.

    Returns the (possibly scaled) gradients and the norm before clipping.
    """
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if clip_norm is None or norm <= clip_norm:
        return grads, norm
    scale = clip_norm / norm
    return {name: g * scale for name, g in grads.items()}, norm


def sgd_update(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
    """In place: w ← w − lr · dw for every name in grads."""
    for name, g in grads.items():
        params[name] -= lr * g
