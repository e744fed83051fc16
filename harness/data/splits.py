"""Seeded, label-stratified validation splits, and the counts per split that `make data` shows."""

from __future__ import annotations

import numpy as np

from ..errors import BadInput


class SplitError(BadInput, ValueError):
    """A validation split the training data cannot give."""


def stratified_split(labels: np.ndarray, valid_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid): valid_size items whose label proportions match `labels`'.

    Both index arrays are sorted, so the split depends only on the labels and the seed.
    """
    if not 0 <= valid_size < len(labels):
        raise SplitError(f"data.valid_size is {valid_size}, but the training split has {len(labels):,} examples: "
                         f"use 0 <= valid_size < {len(labels):,}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # per-class quotas by largest remainder, so they add up to valid_size exactly
    exact = counts * valid_size / len(labels)
    quotas = np.floor(exact).astype(int)
    quotas[np.argsort(exact - quotas)[::-1][: valid_size - quotas.sum()]] += 1
    valid = np.concatenate(
        [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quotas)]
    )
    valid.sort()
    train = np.setdiff1d(np.arange(len(labels)), valid)
    return train, valid


def split_counts(data: dict) -> str:
    """A loaded set's examples (or tokens) per split, as "train / valid / test" counts: "55,000 / 5,000 / 10,000".

    data: split -> an array, or a tuple whose last part has one entry per example."""
    return " / ".join(f"{len(data[s][-1]) if isinstance(data[s], tuple) else len(data[s]):,}"
                      for s in ("train", "valid", "test"))
