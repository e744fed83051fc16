"""MNIST from the four original IDX files (gzip-compressed or not).

Each image is a sequence of 28 rows of 28 pixels, scaled to [0, 1].
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional

import numpy as np

from .cache import cached_arrays
from .locations import DataMissingError, data_dir, reading, first_existing
from .sources import SOURCES
from .splits import split_counts, stratified_split

NAME = SOURCES["mnist"].name
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FIX = SOURCES["mnist"].fix
MEND = SOURCES["mnist"].mend
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
_PIXEL_VALUE = np.arange(256, dtype=np.float32) / 255  # uint8 pixel -> [0, 1], by table lookup


def find(root: Optional[Path] = None) -> dict[str, Path]:
    """The four IDX files, or DataMissingError listing the places searched."""
    root = data_dir(root)
    found, searched = {}, []
    for key, stem in FILES.items():
        candidates = [folder / f"{stem}{ext}" for folder in (root / "mnist", root) for ext in (".gz", "")]
        searched += candidates
        path = first_existing(candidates)
        if path is None:
            raise DataMissingError(NAME, searched, FIX)
        found[key] = path
    return found


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or raw) as uint8 array: images (N, 28, 28) or labels (N,)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with reading(NAME, path, MEND), opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise DataMissingError(NAME, [path], MEND, problem=f"{path} has magic {magic}, not an IDX file")
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise DataMissingError(
            NAME, [path], MEND, problem=f"{path} holds {len(data) - header} bytes of data; its header says {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load(root: Optional[Path] = None, valid_size: int = 5000, seed: int = 0) -> dict:
    """{"train"|"valid"|"test": (images (N, 28, 28) float32 in [0, 1], labels (N,) int64)}.

    The validation set is a seeded, label-stratified part of the 60,000 training images.
    """
    files = find(root)
    arrays = cached_arrays("mnist", list(files.values()), {}, lambda: {k: read_idx(p) for k, p in files.items()})
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise DataMissingError(
                NAME, [files[f"{split}_images"]], MEND,
                problem=f"{split} images {images.shape} do not match labels {labels.shape}",
            )
    for key in ("train_labels", "test_labels"):
        labels = arrays[key]
        if labels.size and labels.max() > 9:
            raise DataMissingError(NAME, [files[key]], MEND,
                                   problem=f"{files[key]} holds labels outside 0-9 (up to {labels.max()})")
    train_idx, valid_idx = stratified_split(arrays["train_labels"], valid_size, seed)

    def split(images, labels, idx=slice(None)):
        return _PIXEL_VALUE[images[idx]], labels[idx].astype(np.int64)

    return {
        "train": split(arrays["train_images"], arrays["train_labels"], train_idx),
        "valid": split(arrays["train_images"], arrays["train_labels"], valid_idx),
        "test": split(arrays["test_images"], arrays["test_labels"]),
    }


def describe(root: Optional[Path] = None) -> dict[str, str]:
    """`make data`'s cells: counts per split, vocabulary, note."""
    return {"train / valid / test": split_counts(load(root)), "vocabulary": "", "note": "images 28 x 28, 10 classes"}
