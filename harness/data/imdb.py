"""IMDB Large Movie Review Dataset (Maas et al. 2011), from aclImdb_v1.tar.gz or an extracted aclImdb/.

The official 25,000 / 25,000 train / test split; a seeded, label-stratified validation
set is carved from the training half, and the vocabulary comes from what is left of it.
Label 1 = positive (rating >= 7), 0 = negative (rating <= 4). The data set itself holds
123 texts that are in both halves; they are left in, as published.
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from . import glove
from .cache import cached_arrays
from .locations import DataMissingError, data_dir, reading, first_existing
from .sequences import Sequences
from .sources import SOURCES
from .splits import split_counts, stratified_split

NAME = SOURCES["imdb"].name
ARCHIVE, FOLDER = "aclImdb_v1.tar.gz", "aclImdb"
FIX = SOURCES["imdb"].fix
MEND = SOURCES["imdb"].mend
PAD, UNK = "<pad>", "<unk>"
_FILE = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lowercase words: `<br />` tags and punctuation removed, contractions ("don't") kept whole."""
    return _TOKEN.findall(text.replace("<br />", " ").lower())


def find(root: Optional[Path] = None) -> Path:
    root = data_dir(root)
    candidates = [root / ARCHIVE, root / FOLDER, root / "imdb" / ARCHIVE, root / "imdb" / FOLDER]
    path = first_existing(candidates)
    if path is None:
        raise DataMissingError(NAME, candidates, FIX)
    return path


def read_reviews(source: Path) -> Iterator[tuple[str, int, int, str]]:
    """(split, review id, label, text) for every review file, from the archive or the folder."""
    if source.is_dir():
        for path in sorted(source.glob("*/*/*.txt")):
            match = _FILE.search(path.relative_to(source.parent).as_posix())
            if match:
                with reading(NAME, path, MEND):
                    text = path.read_text(encoding="utf-8")
                yield _review(match, text)
        return
    with reading(NAME, source, MEND), tarfile.open(source, "r:gz") as archive:
        for member in archive:
            match = _FILE.search(member.name)
            if match and member.isfile():
                yield _review(match, archive.extractfile(member).read().decode("utf-8"))


def _review(match: re.Match, text: str) -> tuple[str, int, int, str]:
    split, polarity, review_id, _rating = match.groups()
    return split, int(review_id), int(polarity == "pos"), text


def load(
    root: Optional[Path] = None, vocab_size: int = 20000, valid_size: int = 2500, seed: int = 0
) -> dict:
    """{"vocab": list of words (0 = <pad>, 1 = <unk>), "train"|"valid"|"test": (Sequences, labels)}.

    The vocabulary is the vocab_size - 2 most frequent words of the training part
    (ties broken alphabetically), plus <pad> and <unk>.
    """
    source = find(root)
    options = {"vocab_size": vocab_size, "valid_size": valid_size, "seed": seed}
    arrays = cached_arrays("imdb", [source], options, lambda: _build(source, vocab_size, valid_size, seed))
    counts = {s: int((arrays["split"] == s).sum()) for s in (0, 1)}
    if counts[0] == 0 or counts[1] == 0:
        raise DataMissingError(NAME, [source], MEND,
                               problem=f"{source} holds {counts[0]} train and {counts[1]} test reviews")
    reviews = Sequences(arrays["flat"], arrays["offsets"])
    is_test = arrays["split"] == 1
    train_half = np.flatnonzero(~is_test)
    train_idx, valid_idx = stratified_split(arrays["labels"][train_half], valid_size, seed)
    data = {"vocab": arrays["vocab"].tolist()}
    for name, idx in (("train", train_half[train_idx]), ("valid", train_half[valid_idx]), ("test", np.flatnonzero(is_test))):
        data[name] = (reviews.subset(idx), arrays["labels"][idx])
    return data


def _build(source: Path, vocab_size: int, valid_size: int, seed: int) -> dict[str, np.ndarray]:
    rows = sorted(read_reviews(source), key=lambda r: (r[0] != "train", -r[2], r[1]))  # train first, pos, by id
    tokens = [tokenize(text) for _, _, _, text in rows]
    split = np.array([0 if r[0] == "train" else 1 for r in rows], dtype=np.int8)
    labels = np.array([r[2] for r in rows], dtype=np.int64)
    train_half = np.flatnonzero(split == 0)
    if len(train_half) <= valid_size:
        raise DataMissingError(NAME, [source], MEND,
                               problem=f"{source} holds only {len(train_half)} training reviews (cut or broken?)")
    train_idx, _ = stratified_split(labels[train_half], valid_size, seed)
    counter = Counter(word for k in train_half[train_idx] for word in tokens[k])
    common = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[: vocab_size - 2]
    vocab = [PAD, UNK] + [word for word, _ in common]
    index = {word: k for k, word in enumerate(vocab)}
    sequences = Sequences.from_lists([[index.get(w, 1) for w in review] for review in tokens])
    return {"flat": sequences.flat, "offsets": sequences.offsets, "split": split, "labels": labels,
            "vocab": np.array(vocab)}


def describe(root: Optional[Path] = None) -> dict[str, str]:
    """`make data`'s cells: counts per split, vocabulary, and how much of it GloVe covers."""
    data = load(root)
    words, vectors = glove.load(root)
    _, coverage = glove.embedding_matrix(data["vocab"], words, vectors, seed=0)
    return {"train / valid / test": split_counts(data), "vocabulary": f"{len(data['vocab']):,}",
            "note": f"GloVe covers {coverage:.1%} of the vocabulary"}
