"""Scratch arrays reused from one training step to the next, so the hot loop allocates nothing."""

from __future__ import annotations

import numpy as np


class Workspace:
    """Named arrays: get() hands back the same array while the name's shape and dtype repeat.

    Contents are not cleared from call to call: a caller writes every element whose value it uses. A new
    array starts as zeros, so that elements a caller skips (and never uses) hold finite numbers.
    """

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.zeros(shape, dtype=dtype)
        return array
