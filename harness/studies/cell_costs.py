"""The LSTM cell's heaviest primitives at a bench shape, timed in one twin's own library, in its bench process.

Per layer and direction, an LSTM time step is two recurrent matmuls (h·Wh forward, (N, H)·(H, 4H); da·Whᵀ
backward, (N, 4H)·(4H, H)), the nonlinearities (tanh over the (N, 4H) gate block, or σ and tanh over its
parts) and a dozen or two small elementwise calls. Timed alike in each library, at the same shape and in
float32, these show where two twins' time steps differ: in their BLAS, in their elementwise kernels
(vectorized or not, on one core or several), or in what a call costs. Each figure is the best of a few
repeats of many calls on fixed inputs, results written into arrays made beforehand.

Only libraries that a twin calls one operation at a time from Python have timers here: NumPy and PyTorch
(its `nn.LSTM` loops in C++, so a call from Python costs it more than the loop pays). TensorFlow's twin runs
its steps inside a graph, where no one call can be timed alone.
"""

from __future__ import annotations

import timeit
from typing import Callable, Optional

import numpy as np

Calls = dict[str, Callable[[], object]]  # what is timed: "recurrent_matmuls", "gate_tanh", "call_floor"


def _numpy_calls(h, Wh, da, x) -> Calls:
    a, dh, gates, one = np.empty_like(da), np.empty_like(h), np.empty_like(x), np.zeros(1, np.float32)
    Wh_T = np.ascontiguousarray(Wh.T)
    return {"recurrent_matmuls": lambda: (np.matmul(h, Wh, out=a), np.matmul(da, Wh_T, out=dh)),
            "gate_tanh": lambda: np.tanh(x, out=gates),
            "call_floor": lambda: np.add(one, one, out=one)}


def _torch_calls(h, Wh, da, x) -> Calls:
    import torch  # in the PyTorch twin's bench process only: every other one loads its own library alone

    h, Wh, da, x = (torch.from_numpy(v) for v in (h, Wh, da, x))
    a, dh, gates, one = torch.empty_like(da), torch.empty_like(h), torch.empty_like(x), torch.zeros(1)
    Wh_T = Wh.T.contiguous()
    return {"recurrent_matmuls": lambda: (torch.matmul(h, Wh, out=a), torch.matmul(da, Wh_T, out=dh)),
            "gate_tanh": lambda: torch.tanh(x, out=gates),
            "call_floor": lambda: torch.add(one, one, out=one)}


TIMERS = {"numpy": _numpy_calls, "torch": _torch_calls}  # by library (twins.LIBRARIES)


def cell_costs(library: Optional[str], N: int, H: int, repeats: int = 1000) -> Optional[dict]:
    """Seconds per call, in `library`, of a time step's two recurrent matmuls at batch N and width H
    ("recurrent_matmuls_seconds", both together), of tanh over an (N, 4H) gate block ("gate_tanh_seconds")
    and of a call that does almost nothing ("call_floor_seconds"); None for a library without a timer."""
    if library not in TIMERS:
        return None
    rng = np.random.default_rng(0)
    h, Wh = rng.random((N, H), dtype=np.float32), rng.random((H, 4 * H), dtype=np.float32)
    da, x = rng.random((N, 4 * H), dtype=np.float32), rng.standard_normal((N, 4 * H), dtype=np.float32)
    calls = TIMERS[library](h, Wh, da, x)
    return {f"{name}_seconds": min(timeit.repeat(call, number=repeats, repeat=5)) / repeats
            for name, call in calls.items()}


def lstm_ops(library: Optional[str], run: Callable[[int], None]) -> Optional[list[str]]:
    """The library's own operations with "lstm" or "rnn" in their names that one training step, `run(1)`,
    called: which LSTM kernels the twin's framework chose at the shape (PyTorch's profiler); None for a library
    without a profiler here. PyTorch's `nn.LSTM` on CPU runs a layer's steps as oneDNN's fused LSTM
    (`aten::mkldnn_rnn_layer`, one call per layer and pass) where it can, and step by step in ATen's own
    operations (`aten::lstm` alone) where it cannot, as for packed sequences."""
    if library != "torch":
        return None
    from torch.profiler import ProfilerActivity, profile  # the PyTorch twin's bench process only, as above

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        run(1)
    names = {event.key for event in profiler.key_averages()}
    return sorted(name for name in names if name.startswith("aten::") and ("lstm" in name or "rnn" in name))
