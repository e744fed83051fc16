"""Work shared among threads, one per core, for the few places where that pays.

NumPy runs each ufunc call (exp, tanh, ...) on one core, and only BLAS uses the others.
Where a loop's iterations are independent and each is large (the output layer's blocks
of rows for a 10,000-word vocabulary), the iterations are shared among threads: NumPy
releases Python's lock inside its ufuncs and matmuls, so the threads really run at once.
Meanwhile BLAS is held to one thread per call, so that the two kinds of threads do not
fight over the cores. (Small iterations do not pay: the threads would wait on Python's
lock more than they compute. Measured on 2 cores, sharing a batch's rows of the whole
model between threads made the MNIST step no faster and the IMDB and POS steps slower:
their LSTM steps are calls on arrays of 2k-32k elements, tens of microseconds each.)

The number of threads is the number of cores this process may use;
LSTM_TWINS_NUMPY_THREADS overrides it (1 = no threads). Results come back in a fixed
order, so a run is deterministic; machines with different core counts add the same
terms in a different order, so float32 results differ there in rounding only.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Callable, Sequence, TypeVar

from threadpoolctl import ThreadpoolController

THREADS_VARIABLE = "LSTM_TWINS_NUMPY_THREADS"

Item = TypeVar("Item")
Result = TypeVar("Result")


def thread_count() -> int:
    """The cores this process may use, or LSTM_TWINS_NUMPY_THREADS when set."""
    value = os.environ.get(THREADS_VARIABLE)
    if value is not None:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_VARIABLE}={value!r}: expected a whole number of threads >= 1")
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_shares(work: Callable[[Sequence[Item]], Result], items: Sequence[Item], min_share: int = 1) -> list[Result]:
    """Cut `items` into contiguous shares, one per thread, and return [work(share) for each share].

    Every share holds at least min_share items (so there may be fewer shares than threads).
    The shares run in parallel threads, BLAS single-threaded meanwhile.
    """
    n = max(1, min(thread_count(), len(items) // min_share))
    bounds = [k * len(items) // n for k in range(n + 1)]
    shares = [items[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
    if n == 1:
        return [work(items)]
    with _blas().limit(limits=1, user_api="blas"):
        return list(_pool(n).map(work, shares))


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="numpy-twin")


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()
