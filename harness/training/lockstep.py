"""Twins trained side by side in one process, step by step on the same batches.

(Side by side is for comparing numbers: parity and divergence. Speed is never measured so:
`make bench` times each twin in a process of its own.)
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from twin_contract import Batch, State, StepResult, Twin


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
