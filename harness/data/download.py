"""Data that arrives by itself: MNIST, IMDB and NLTK's treebank sample from their official sources.

Each file has a pinned address, size and checksum. A missing set is fetched into the
data folder with a progress bar: first into `<file>.part` (a cut download never looks
complete; the next attempt resumes it with an HTTP range request, or starts over where
the server ignores ranges), then checked against its checksum, and only then renamed
to its name. A file whose checksum differs is deleted and refused.
$LSTM_TWINS_MIRROR (a base URL) replaces the official hosts: `<mirror>/<file name>`.
GloVe and Mikolov's PTB text come with the project's Python packages: nothing to fetch.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

MIRROR_ENV = "LSTM_TWINS_MIRROR"
ATTEMPTS = 3  # a cut transfer is resumed this many times before giving up
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download that failed or was refused; the message is one line naming the file and what to do."""


class Unreachable(DownloadError):
    """The source could not be reached at all (no network): the set is simply missing."""


@dataclass(frozen=True)
class Remote:
    """One file of a data set: its official address, where it goes below the data folder, size and checksum."""

    url: str
    path: str
    size: int  # bytes, as published
    checksum: str  # "sha256:<hex>" or "md5:<hex>"

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def address(self) -> str:
        """The official address, or the mirror's when $LSTM_TWINS_MIRROR is set."""
        mirror = os.environ.get(MIRROR_ENV)
        return f"{mirror.rstrip('/')}/{self.name}" if mirror else self.url


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"  # torchvision's copy of the original files
REMOTES = {
    "mnist": (
        Remote(f"{_MNIST}/train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz", 9912422,
               "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote(f"{_MNIST}/train-labels-idx1-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz", 28881,
               "md5:d53e105ee54ea40749a09fcbcd1e9432"),
        Remote(f"{_MNIST}/t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz", 1648877,
               "md5:9fb629c4189551a2d022fa330f9573f3"),
        Remote(f"{_MNIST}/t10k-labels-idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 4542,
               "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    "imdb": (
        Remote("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz", 84125825,
               "sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"),
    ),
    "ptb_pos": (  # what nltk.download('treebank') fetches
        Remote("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/treebank.zip",
               "nltk_data/corpora/treebank.zip", 1740034,
               "sha256:9da92d76c3666cfb6cddeaed0f7e86b344cce0f0928a286d439e555f19c37399"),
    ),
}


def instructions(dataset: str) -> str:
    """How to get a data set by hand: each file's address, checksum and place (for the offline error)."""
    files = "; ".join(f"{r.url} ({r.checksum}) as <data>/{r.path}" for r in REMOTES[dataset])
    return (f"`make data DOWNLOAD=1` (or any `make compare`) fetches it; by hand: {files} "
            "(the data folder is set by $LSTM_TWINS_DATA or --data-dir)")


def fetch(remotes: Iterable[Remote], root: Path, label: str, progress: bool = True) -> list[Path]:
    """Download the remotes not yet in `root`; say what and how big first. Returns the files written."""
    todo = [r for r in remotes if not (root / r.path).exists()]
    if not todo:
        return []
    megabytes = sum(r.size for r in todo) / 1e6
    source = os.environ.get(MIRROR_ENV) or todo[0].url.split("/")[2]
    print(f"{label}: downloading {len(todo)} file{'s' * (len(todo) > 1)} ({megabytes:,.1f} MB) from {source} "
          f"into {root}", flush=True)
    return [_fetch_one(remote, root / remote.path, progress) for remote in todo]


def _fetch_one(remote: Remote, target: Path, progress: bool) -> Path:
    part = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"{remote.name}: cannot write into {target.parent} ({error.strerror}); "
                            f"set $LSTM_TWINS_DATA or --data-dir to a writable folder") from None
    for attempt in range(ATTEMPTS):
        if _transfer(remote, part, progress):
            break
    else:
        raise DownloadError(f"{remote.name}: the transfer from {remote.address()} was cut {ATTEMPTS} times; "
                            f"run again to resume it ({part} is kept)")
    algorithm, expected = remote.checksum.split(":")
    actual = _checksum(part, algorithm)
    if actual != expected:
        part.unlink()
        raise DownloadError(f"{remote.name}: checksum mismatch, expected {algorithm} {expected}, got {actual}; "
                            f"the file was deleted (check {MIRROR_ENV} or try again)")
    os.replace(part, target)
    return target


def _transfer(remote: Remote, part: Path, progress: bool) -> bool:
    """Append the rest of the file to `part` (all of it if the server ignores ranges); False if cut."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.address(), headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the range starts at the end: nothing more to fetch
            return True
        raise DownloadError(f"{remote.name}: {remote.address()} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"{remote.name}: cannot reach {remote.address()} ({reason})") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the whole file comes again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=remote.name, disable=not progress, leave=False
        ) as bar:
            try:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException):  # a reset connection, an IncompleteRead
                return False
    return total is None or part.stat().st_size == total


def _checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure(datasets: Iterable[str], root: Optional[Path] = None, progress: bool = True) -> None:
    """Fetch each of `datasets` ("mnist", "imdb", "ptb_pos"; others need nothing) that the data folder lacks.

    A set already present (anywhere its loader looks) is used as it is: no request is made.
    Raises DownloadError when a fetch fails or is refused, and the loader's DataMissingError (where it
    looked, each file's address and checksum) when the source cannot be reached.
    """
    from . import imdb, mnist, ptb_pos
    from .locations import DataMissingError, data_dir

    finders = {"mnist": (mnist.NAME, mnist.find_files), "imdb": (imdb.NAME, imdb.find_source),
               "ptb_pos": (ptb_pos.NAME, ptb_pos.find_source)}
    for dataset in datasets:
        if dataset not in finders:
            continue
        name, find = finders[dataset]
        try:
            find(root)
        except DataMissingError as missing:
            try:
                fetch(REMOTES[dataset], data_dir(root), name, progress)
            except Unreachable as error:
                raise DataMissingError(name, missing.searched, instructions(dataset),
                                       problem=f"not found, and fetching it failed ({error})") from None
