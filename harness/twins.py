"""The twins the harness compares, named once: every command, page and table reads this registry.

A twin is a module that implements `twin_contract.Twin`; the reference (whose figures the
others are measured against) is last. Imports nothing of the project: the twins are imported
on first use (`load`), since TensorFlow is slow to load.
"""

from __future__ import annotations

import importlib

from twin_contract import Twin

MODULES = {"numpy": "impl_numpy", "tensorflow": "impl_tensorflow"}  # the reference last
LABELS = {"numpy": "NumPy", "tensorflow": "TensorFlow"}
NAMES = tuple(MODULES)
# `make bench`'s outside speed reference: PyTorch's own LSTM (harness/bench_pytorch.py), not a twin
PYTORCH = "pytorch"


def load(name: str) -> Twin:
    """The twin's module (imported on first use: TensorFlow is slow to load)."""
    return importlib.import_module(MODULES[name])
