"""Where data is looked for, where processed caches go, and the error when a set is missing."""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Optional

from ..errors import BadInput
from ..paths import CACHE_DIR, DATA_DIR
from .sources import PUBLISHED, file_digest

DATA_ENV = "LSTM_TWINS_DATA"
CACHE_ENV = "LSTM_TWINS_CACHE"


class DataMissingError(BadInput, RuntimeError):
    """A data set was not found, or is corrupt: says which, where we looked, and how to get it.

    Attributes: name (the data set's), searched (the places looked at), problem ("not found", or what
    is wrong with what was found) and fix (how to get it).
    """

    def __init__(self, name: str, searched: Iterable, fix: str, problem: str = "not found"):
        searched = list(searched)
        if problem.startswith("not found"):
            places = "\n".join(f"  - {p}" for p in searched) or "  (nowhere)"
            super().__init__(f"{name}: {problem}.\nSearched:\n{places}\nTo get it: {fix}")
        else:  # a file found but broken: one line naming it, and what replaces it (Source.mend)
            super().__init__(f"{name}: {problem}; {fix}")
        self.name, self.searched, self.problem, self.fix = name, searched, problem, fix


# every way reading a data file can fail: a cut or overwritten gzip/zip/tar member, bytes that are not UTF-8...
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, tarfile.TarError, zipfile.BadZipFile)


@contextmanager
def reading(name: str, path: Path, mend: str):
    """Read `path` of data set `name` inside: any failure to read it is DataMissingError naming the file.

    A file of a published size (data/sources.py) is first checked against its published checksum: bytes
    overwritten inside an archive can otherwise read as an archive that just ends early.
    """
    remote = PUBLISHED.get(path.name)
    if remote is not None and path.is_file() and path.stat().st_size == remote.size:
        algorithm, expected = remote.checksum.split(":")
        if file_digest(path, algorithm) != expected:
            raise DataMissingError(name, [path], mend, problem=f"{path} has the published size but not the "
                                   f"published {algorithm} checksum")
    try:
        yield
    except READ_ERRORS as error:
        why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataMissingError(name, [path], mend, problem=f"cannot read {path} ({why})") from None


def data_dir(override: Optional[str | os.PathLike] = None) -> Path:
    """The data folder: `override`, else $LSTM_TWINS_DATA, else ./data in the project."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get(DATA_ENV) or DATA_DIR)


def cache_dir() -> Path:
    """Writable folder for processed caches: $LSTM_TWINS_CACHE, else ./cache in the project."""
    return Path(os.environ.get(CACHE_ENV) or CACHE_DIR)


def first_existing(candidates: Iterable[Path]) -> Optional[Path]:
    for path in candidates:
        if path.exists():
            return path
    return None
