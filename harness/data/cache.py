"""Processed caches: .npz files keyed by the source files and the preprocessing options.

A cache file is `<name>-<what>-<version>.npz`: <what> hashes the sources' paths and the
options, <version> their sizes and modification times. Writing a new version of the
same sources and options deletes the older ones, so the cache holds one file per data
set as it is used. The cache is only a speed-up: when its folder cannot be written,
a warning is printed once and the data is built in memory every time.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic_files import NotWritable, write_npz_atomic
from .locations import CACHE_ENV, cache_dir

CACHE_FORMAT = 2  # bump when a loader's output changes for the same sources and options
_FILE = re.compile(r"^[a-z_]+-([0-9a-f]{16}-)?[0-9a-f]{16}\.npz$")  # ours (the older one-hash name included)
_warned: set[Path] = set()


def cache_key(sources: list[Path], options: dict) -> tuple[str, str]:
    """(what, version): a hash of the sources' paths and the options, and one of their sizes and times."""
    what = json.dumps({"format": CACHE_FORMAT, "sources": [str(p.resolve()) for p in sources], "options": options},
                      sort_keys=True)
    version = json.dumps([[p.stat().st_size, p.stat().st_mtime_ns] for p in sources])
    return tuple(hashlib.sha256(text.encode()).hexdigest()[:16] for text in (what, version))


def cached_arrays(
    name: str, sources: list[Path], options: dict, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Load `name`'s arrays from the cache, or build them and write the cache atomically."""
    what, version = cache_key(sources, options)
    folder = cache_dir()
    path = folder / f"{name}-{what}-{version}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt
    arrays = build()
    try:
        write_npz_atomic(path, arrays)
    except NotWritable as error:
        if folder not in _warned:
            _warned.add(folder)
            print(f"warning: cannot write the data cache in {folder} ({error.reason}); going on without it "
                  f"(set ${CACHE_ENV} to a writable folder to load faster)", file=sys.stderr)
        return arrays
    for stale in folder.glob(f"{name}-*.npz"):  # older versions of these sources, and the one-hash names
        if stale != path and (stale.name.startswith(f"{name}-{what}-") or stale.name.count("-") == name.count("-") + 1):
            stale.unlink(missing_ok=True)
    return arrays


def clean_cache() -> tuple[int, int]:
    """Delete every cache file in the cache folder: (files, bytes) removed."""
    files = [p for p in cache_dir().glob("*.npz") if _FILE.match(p.name)] if cache_dir().is_dir() else []
    size = sum(p.stat().st_size for p in files)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files), size
