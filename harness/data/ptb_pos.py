"""Penn Treebank POS tagging: NLTK's 10% sample of the WSJ treebank (199 files, 3,914 sentences).

-NONE- trace tokens are dropped (94,084 tokens and 45 tags remain). The split is by
file, in file order: the first 80% of the files for training, the next 10% for
validation, the last 10% for test (wsj_0001-0159 / 0160-0179 / 0180-0199).
Words are lowercased; training words seen fewer than min_count times, and words
unseen in training, become <unk>, unless they are among the extra words (for example
the most frequent words of GloVe, so that a pretrained embedding covers them).

Two word features are computed from the raw tokens, for taggers that read them: the word's
shape (SHAPES: case and digits, taken before lowercasing), and its suffix (the last
suffix_length characters of the word as the vocabulary writes it; suffixes seen fewer than
min_count times in training become <unk>).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .cache import cached_arrays
from .locations import DataMissingError, data_dir, reading, first_existing
from .sequences import Sequences
from .sources import SOURCES
from .splits import split_counts

NAME = SOURCES["ptb_pos"].name
TRACE = "-NONE-"
PAD, UNK = "<pad>", "<unk>"
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
# Word shape classes, id 0 for padding: the case of the word's letters, and whether it has digits.
SHAPES = (PAD, "lower", "Capitalised", "UPPER", "miXed", "number", "alphanumeric", "punctuation")
FIX = SOURCES["ptb_pos"].fix
MEND = SOURCES["ptb_pos"].mend


def find(root: Optional[Path] = None) -> Path:
    """The nltk_data folder that holds corpora/treebank (zip or extracted)."""
    root = data_dir(root)
    folders = [root / "nltk_data", root] + [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    candidates = [f / "corpora" / name for f in folders for name in ("treebank.zip", "treebank")]
    found = first_existing(candidates)
    if found is None:
        raise DataMissingError(NAME, candidates, FIX)
    return found


def split_files(fileids: list[str]) -> dict[str, list[str]]:
    """The file split: first 80% train, next 10% valid, last 10% test, in file order."""
    n = len(fileids)
    train_end = int(SPLIT_FRACTIONS[0] * n)
    valid_end = int((SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]) * n)
    return {"train": fileids[:train_end], "valid": fileids[train_end:valid_end], "test": fileids[valid_end:]}


def read_tagged_files(source: Path) -> dict[str, list[list[tuple[str, str]]]]:
    """{file id: its tagged sentences, traces dropped}."""
    import nltk
    from nltk.corpus.reader import BracketParseCorpusReader
    from nltk.data import ZipFilePathPointer

    nltk_data = str(source.parents[1])
    if nltk_data not in nltk.data.path:
        nltk.data.path.insert(0, nltk_data)  # NLTK opens zip files only below its search path
    with reading(NAME, source, MEND):
        if source.suffix == ".zip":
            root = ZipFilePathPointer(str(source), "treebank/combined/")
        else:
            root = str(source / "combined")
        reader = BracketParseCorpusReader(root, r"wsj_.*\.mrg")
        files = {
            fileid: [[(w, t) for w, t in sentence if t != TRACE] for sentence in reader.tagged_sents(fileid)]
            for fileid in sorted(reader.fileids())
        }
    if not files:
        raise DataMissingError(NAME, [source], MEND, problem="no wsj_*.mrg files in the treebank")
    return {fileid: [s for s in sentences if s] for fileid, sentences in files.items()}


def load(
    root: Optional[Path] = None, min_count: int = 2, lowercase: bool = True, extra_words: Sequence[str] = (),
    suffix_length: int = 0,
) -> dict:
    """{"words": vocab, "tags": tag list, "suffixes": suffix vocab,
    "train"|"valid"|"test": (word Sequences, tag Sequences, shape Sequences, suffix Sequences)}.

    Word id 0 is <pad> and 1 is <unk>; tag ids start at 0 (masks mark the padding); shape ids
    index SHAPES; suffix ids index "suffixes" (0 <pad>, 1 <unk>; only those two when suffix_length is 0).
    The vocabulary is the training words seen min_count times or more, plus extra_words.
    """
    source = find(root)
    extra = sorted(set(extra_words))
    options = {"min_count": min_count, "lowercase": lowercase, "suffix_length": suffix_length,
               "extra_words": hashlib.sha256("\n".join(extra).encode()).hexdigest()[:16] if extra else None}
    arrays = cached_arrays("ptb_pos", [source], options,
                           lambda: _build(source, min_count, lowercase, extra, suffix_length))
    data = {name: arrays[name].tolist() for name in ("words", "tags", "suffixes")}
    for split in ("train", "valid", "test"):
        offsets = arrays[f"{split}_offsets"]
        data[split] = tuple(Sequences(arrays[f"{split}_{part}"], offsets) for part in ("words", "tags", "shapes", "suffixes"))
    return data


def describe(root: Optional[Path] = None) -> dict[str, str]:
    """`make data`'s cells: sentences per split, the vocabulary and tags, the tokens."""
    data = load(root)
    tokens = sum(len(data[s][0].flat) for s in ("train", "valid", "test"))
    return {"train / valid / test": split_counts(data),
            "vocabulary": f"{len(data['words']):,} words, {len(data['tags'])} tags",
            "note": f"sentences; {tokens:,} tokens without traces"}


def word_shape(word: str) -> int:
    """The word's index in SHAPES (never 0, the padding's)."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return SHAPES.index("number" if any(c.isdigit() for c in word) else "punctuation")
    if any(c.isdigit() for c in word):
        return SHAPES.index("alphanumeric")
    if all(c.islower() for c in letters):
        return SHAPES.index("lower")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPES.index("Capitalised")
    return SHAPES.index("UPPER" if all(c.isupper() for c in letters) else "miXed")


def _build(source: Path, min_count: int, lowercase: bool, extra_words: list[str], suffix_length: int
           ) -> dict[str, np.ndarray]:
    files = read_tagged_files(source)
    normal = str.lower if lowercase else str

    def suffix(word: str) -> str:
        return normal(word)[-suffix_length:] if suffix_length else ""

    sentences = {
        split: [s for fileid in fileids for s in files[fileid]] for split, fileids in split_files(list(files)).items()
    }
    counts = Counter(normal(w) for s in sentences["train"] for w, _ in s)
    words = [PAD, UNK] + sorted({w for w, c in counts.items() if c >= min_count} | set(extra_words) - {PAD, UNK})
    suffix_counts = Counter(suffix(w) for s in sentences["train"] for w, _ in s) if suffix_length else Counter()
    suffixes = [PAD, UNK] + sorted({x for x, c in suffix_counts.items() if c >= min_count} - {PAD, UNK})
    tags = sorted({t for s in sentences["train"] for _, t in s})
    word_index, tag_index = {w: k for k, w in enumerate(words)}, {t: k for k, t in enumerate(tags)}
    suffix_index = {x: k for k, x in enumerate(suffixes)}
    arrays = {"words": np.array(words), "tags": np.array(tags), "suffixes": np.array(suffixes)}
    for split, split_sentences in sentences.items():
        unknown_tags = sorted({t for s in split_sentences for _, t in s if t not in tag_index})
        if unknown_tags:
            raise DataMissingError(NAME, [source], MEND, problem=f"{split} has tags unseen in training: {unknown_tags}")
        parts = {
            "words": [[word_index.get(normal(w), 1) for w, _ in s] for s in split_sentences],
            "tags": [[tag_index[t] for _, t in s] for s in split_sentences],
            "shapes": [[word_shape(w) for w, _ in s] for s in split_sentences],
            "suffixes": [[suffix_index.get(suffix(w), 1) for w, _ in s] for s in split_sentences],
        }
        for part, lists in parts.items():
            sequences = Sequences.from_lists(lists)
            arrays[f"{split}_{part}"] = sequences.flat
        arrays[f"{split}_offsets"] = sequences.offsets
    return arrays
