"""Processed caches: .npz files keyed by the source files and the preprocessing options."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic_files import write_npz_atomic
from .locations import cache_dir

CACHE_FORMAT = 1  # bump when a loader's output changes for the same sources and options


def cache_key(sources: list[Path], options: dict) -> str:
    """Hash of each source's path, size and modification time, and of the options."""
    identity = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources]
    text = json.dumps({"format": CACHE_FORMAT, "sources": identity, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_arrays(
    name: str, sources: list[Path], options: dict, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Load `name`'s arrays from the cache, or build them and write the cache atomically."""
    path = cache_dir() / f"{name}-{cache_key(sources, options)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt
    arrays = build()
    write_npz_atomic(path, arrays)
    return arrays
