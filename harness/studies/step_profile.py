"""Where the NumPy twin's training step spends its time, per bench shape: a table of `make bench`.

reports/bench_page.py says how, and what the table shows, above the table.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics

import numpy as np

from .synthetic import random_batch

# A part of the step: the functions (module file, name) whose cumulative time it is.
PARTS = {
    "LSTM forward": [("lstm.py", "lstm_forward")],
    "LSTM backward": [("lstm.py", "lstm_backward")],
    "output layer": [("output_layer.py", "linear_cross_entropy")],
    "embedding": [("embedding.py", "embedding_forward"), ("embedding.py", "embedding_backward")],
    "pooling": [("pooling.py", name) for name in ("masked_mean_forward", "masked_mean_backward",
                                                  "masked_max_forward", "masked_max_backward")],
    "clip + SGD": [("sgd.py", "clip_by_global_norm"), ("sgd.py", "sgd_update")],
}
STEP = ("model.py", "train_step")


def profile_step(case, run, steps: int = 5) -> dict:
    """cProfile `run(steps)` (the bench's NumPy training steps on `case`) -> seconds per step of each part
    of PARTS and of the whole step, the LSTM's seconds per time step, and the NumPy calls in one."""
    profiler = cProfile.Profile()
    profiler.runcall(run, steps)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, primitive calls, own, cumulative, ...)
    cumulative = {}
    for (file, _, name), (*_, seconds, _) in stats.items():
        key = (file.rsplit("/", 1)[-1], name)
        cumulative[key] = cumulative.get(key, 0.0) + seconds
    parts = {part: sum(cumulative.get(f, 0.0) for f in functions) / steps for part, functions in PARTS.items()}
    step = cumulative[STEP] / steps
    spec = case.spec
    time_steps = case.num_steps * len(spec.direction_names())  # LSTM time steps per training step
    return {"step_seconds": step, "parts_seconds": parts,
            "lstm_time_step_seconds": (parts["LSTM forward"] + parts["LSTM backward"]) / time_steps,
            "lstm_calls_per_time_step": lstm_calls_per_time_step(case)}


class _Counted(np.ndarray):
    """An array that counts the NumPy calls made on it: ufuncs (operators, np.tanh, np.matmul, reductions)
    and array functions (np.where, np.copyto, ...). What they return is counted in turn."""

    calls = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _Counted.calls += 1
        outputs = kwargs.get("out")
        if outputs is not None:
            kwargs["out"] = tuple(np.asarray(o) for o in outputs)
        result = getattr(ufunc, method)(*(np.asarray(x) if isinstance(x, np.ndarray) else x for x in inputs),
                                        **kwargs)
        if outputs is not None:
            return outputs[0] if len(outputs) == 1 else outputs
        return result.view(_Counted) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        _Counted.calls += 1
        result = super().__array_function__(func, types, args, kwargs)
        return result.view(_Counted) if isinstance(result, np.ndarray) else result


def lstm_calls_per_time_step(case) -> float:
    """The NumPy calls of one time step of lstm.py's loops (forward + backward, one layer and direction) at the
    case's batch, width and padding: the calls of an LSTM over its steps twice over, less those over its steps
    once, per step (what a call does once, outside its loops, cancels)."""
    # Imported here, in the NumPy twin's bench process only: every other bench process loads its own twin alone.
    from impl_numpy.lstm import longest_first, lstm_backward, lstm_forward
    from impl_numpy.workspace import Workspace

    class CountedWorkspace(Workspace):
        def get(self, name, shape, dtype):
            return super().get(name, shape, dtype).view(_Counted)

    rng = np.random.default_rng(0)
    mask = random_batch(case, rng).mask  # (N, T), or None
    mask = None if mask is None else mask[longest_first(mask)]  # as the NumPy twin sorts its rows
    N, T, H = case.batch_size, case.num_steps, case.spec.hidden_size

    def calls(repeats: int) -> int:
        x = rng.standard_normal((N, repeats * T, H)).astype(np.float32).view(_Counted)
        Wx, Wh = (rng.standard_normal((H, 4 * H)).astype(np.float32).view(_Counted) for _ in range(2))
        b = np.zeros(4 * H, np.float32).view(_Counted)
        workspace = CountedWorkspace()
        _Counted.calls = 0
        steps_mask = None if mask is None else np.tile(mask, repeats)  # the same padding, `repeats` times
        _, _, cache = lstm_forward(x, Wx, Wh, b, mask=steps_mask, workspace=workspace)
        lstm_backward(x, None, None, cache, workspace, input_grad=False)  # dh_seq: any (N, T, H) array
        return _Counted.calls

    return (calls(2) - calls(1)) / T


def summary(profiles: list[dict]) -> dict:
    """The median of each figure over the bench's rounds."""
    return {"step_seconds": statistics.median(p["step_seconds"] for p in profiles),
            "parts_seconds": {part: statistics.median(p["parts_seconds"][part] for p in profiles) for part in PARTS},
            "lstm_time_step_seconds": statistics.median(p["lstm_time_step_seconds"] for p in profiles),
            **({"lstm_calls_per_time_step": profiles[0]["lstm_calls_per_time_step"]}
               if "lstm_calls_per_time_step" in profiles[0] else {})}
