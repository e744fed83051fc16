"""The twins the harness compares, named once: every command, page and table reads this registry.

A twin is a module that implements `twin_contract.Twin`; the reference (whose figures the
others are measured against) is last. Imports nothing of the project but its error type: the twins
are imported on first use (`load`), since TensorFlow is slow to load and PyTorch an optional extra.
"""

from __future__ import annotations

import importlib
import importlib.util

from twin_contract import Twin

from .errors import BadInput

MODULES = {"numpy": "impl_numpy", "pytorch": "impl_pytorch", "tensorflow": "impl_tensorflow"}  # the reference last
LABELS = {"numpy": "NumPy", "pytorch": "PyTorch", "tensorflow": "TensorFlow"}
NAMES = tuple(MODULES)
REFERENCE = NAMES[-1]
DEFAULT = ("numpy", "tensorflow")  # what compare and sweep train unless --twins names others
# a twin's library that an optional extra installs: twin -> (the module it imports, the extra)
EXTRAS = {"pytorch": ("torch", "torch")}
# `make bench`'s outside speed reference: PyTorch's own LSTM (harness/bench_pytorch.py), not the twin
PYTORCH = "pytorch"


class TwinMissing(BadInput, ImportError):
    """A twin whose library (an optional extra) is not installed."""


def available(name: str) -> bool:
    """Whether the twin's library is installed (those of the optional extras may not be)."""
    return name not in EXTRAS or importlib.util.find_spec(EXTRAS[name][0]) is not None


def check_available(names) -> None:
    """TwinMissing, before any work, naming the first twin whose optional extra is not installed."""
    for name in names:
        if not available(name):
            module, extra = EXTRAS[name]
            raise TwinMissing(f"the {LABELS[name]} twin needs {module}, an optional extra: .venv/bin/pip install "
                              f"-e '.[{extra}]' (the README says how to get a CPU-only wheel)")


def load(name: str) -> Twin:
    """The twin's module (imported on first use: TensorFlow is slow to load); TwinMissing without its extra."""
    check_available([name])
    return importlib.import_module(MODULES[name])
