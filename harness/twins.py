"""The twins the harness compares, named once, and the loop that trains them side by side in one process.

(Side by side is for comparing numbers: parity and divergence. Speed is never measured so:
`bench.py` times each twin in a process of its own.)
"""

from __future__ import annotations

import importlib
from typing import Iterable, Iterator, Optional

from twin_contract import Batch, State, StepResult, Twin

MODULES = {"numpy": "impl_numpy", "tensorflow": "impl_tensorflow"}  # the reference last
LABELS = {"numpy": "NumPy", "tensorflow": "TensorFlow"}
NAMES = tuple(MODULES)


def load(name: str) -> Twin:
    """The twin's module (imported on first use: TensorFlow is slow to load)."""
    return importlib.import_module(MODULES[name])


def lockstep(
    twins: Iterable[Twin], spec, weights: dict, dtype: str, steps: Iterable[tuple[Batch, float, Optional[float], bool]],
    carries_state: bool,
) -> Iterator[tuple[list, list[StepResult]]]:
    """Train each twin from the same `weights`, one step each in turn, on the same batches.

    steps: (batch, lr, clip_norm, fresh) per step; fresh starts that step from a zero state.
    Yields (models, their step results) after every step.
    """
    twins = list(twins)
    models = [twin.build_model(spec, weights, dtype) for twin in twins]
    states: list[Optional[State]] = [None] * len(twins)
    for batch, lr, clip_norm, fresh in steps:
        if fresh:
            states = [None] * len(twins)
        results = [twin.train_step(model, batch, lr, clip_norm, state)
                   for twin, model, state in zip(twins, models, states)]
        states = [result.state if carries_state else None for result in results]
        yield models, results
