"""The data sets, one loader each, keyed as data/sources.py's table: what a command needs fetched before it runs.

Every loader has one face: NAME (its name in errors), find(root) (its files, or DataMissingError
naming where it looked), load(root, ...) (the arrays) and describe(root) (`make data`'s cells).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from . import glove, imdb, mnist, ptb_lm, ptb_pos
from .download import Unreachable, fetch
from .locations import DataMissingError, data_dir
from .sources import SOURCES

LOADERS = {"mnist": mnist, "imdb": imdb, "glove": glove, "ptb_lm": ptb_lm, "ptb_pos": ptb_pos}  # SOURCES' keys


def ensure(datasets: Iterable[str], root: Optional[Path] = None, progress: bool = True) -> None:
    """Fetch each of `datasets` (keys of SOURCES; those that come with a package need nothing) that the
    data folder lacks.

    A set already present (anywhere its loader looks) is used as it is: no request is made.
    Raises DownloadError when a fetch fails or is refused, and the loader's DataMissingError (where it
    looked, each file's address and checksum) when the source cannot be reached.
    """
    for dataset in datasets:
        source = SOURCES[dataset]
        if not source.remotes:
            continue
        try:
            LOADERS[dataset].find(root)
        except DataMissingError as missing:
            try:
                fetch(source.remotes, data_dir(root), source.name, progress)
            except Unreachable as error:
                raise DataMissingError(source.name, missing.searched, source.fix,
                                       problem=f"not found, and fetching it failed ({error})") from None
