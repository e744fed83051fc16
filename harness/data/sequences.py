"""Variable-length integer sequences stored flat, padded per batch with a mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sequences:
    """Sequence k is flat[offsets[k]:offsets[k + 1]]."""

    flat: np.ndarray  # (total,) int32
    offsets: np.ndarray  # (count + 1,) int64

    @classmethod
    def from_lists(cls, lists) -> "Sequences":
        lengths = np.fromiter((len(s) for s in lists), dtype=np.int64, count=len(lists))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.fromiter((t for s in lists for t in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.flat[self.offsets[k] : self.offsets[k + 1]]

    def subset(self, indices: np.ndarray) -> "Sequences":
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # flat position of every kept token: its sequence's start plus its rank within it
        rank = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
        return Sequences(self.flat[np.repeat(self.offsets[indices], lengths) + rank], offsets)

    def pad(self, indices, side: str = "post", max_len: int | None = None,
            truncating: str = "post") -> tuple[np.ndarray, np.ndarray]:
        """Sequences `indices` as ids (N, T) padded with 0, and mask (N, T) True at real steps.

        T is the longest selected length (capped at max_len). side: "post" pads at the end,
        "pre" at the start. truncating, as in Keras's pad_sequences: a longer sequence loses
        its tokens after the first max_len ("post") or before the last max_len ("pre").
        """
        indices = np.asarray(indices)
        lengths = self.lengths[indices]
        starts = self.offsets[indices]
        if max_len is not None:
            if truncating == "pre":
                starts = starts + np.maximum(lengths - max_len, 0)
            lengths = np.minimum(lengths, max_len)
        T = int(lengths.max())
        steps = np.arange(T)[None, :]
        mask = steps < lengths[:, None] if side == "post" else steps >= T - lengths[:, None]
        # position in the flat array of each real step, row by row
        rank = np.cumsum(mask, axis=1) - 1
        source = starts[:, None] + rank
        ids = np.where(mask, self.flat[np.where(mask, source, 0)], 0).astype(np.int32)
        return ids, mask
