"""`python -m harness data`: where each data set was found, its counts, or how to get it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .catalogue import LOADERS
from .locations import DataMissingError
from .sources import SOURCES
from .splits import SplitError

COLUMNS = ("data set", "status", "source", "train / valid / test", "vocabulary", "note")


def data_rows(root: Optional[Path] = None) -> list[dict]:
    """One row per data set: name, status, source, counts (train / valid / test), vocabulary, note."""
    rows = []
    for key, loader in LOADERS.items():
        try:
            found = {"status": "OK", "source": _source(loader.find(root)), **loader.describe(root)}
        except SplitError as error:  # the default split does not fit in what was found
            found = {"status": "BROKEN", "note": str(error)}
        except DataMissingError as error:
            missing = error.problem.startswith("not found")  # else what is wrong with what was found
            found = {"status": "MISSING" if missing else "BROKEN",
                     "note": error.fix if missing else f"{error.problem}; {error.fix}"}
        rows.append({key: found.get(key, "") for key in COLUMNS} | {"data set": SOURCES[key].title})
    return rows


def _source(source) -> str:
    """A found source as one path: the file, or the folder of a set of files."""
    paths = list(source.values()) if isinstance(source, dict) else list(source) if isinstance(source, (list, tuple)) else [source]
    return str(paths[0] if len(paths) == 1 else Path(paths[0]).parent)
