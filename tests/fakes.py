"""Tiny in-memory datasets for fast tests of the loop and the CLI."""

from __future__ import annotations

import numpy as np

from alseg.data.base import FrameMeta, Sample, SegDataset


class BlobDataset(SegDataset):
    """Sequences of frames: a bright square (class 1) drifting over a dark field (class 0)."""

    name = "blobs"
    class_names = ("background", "square", "stripe")

    def __init__(self, sequences: int = 4, frames: int = 10, size: int = 32, seed: int = 0) -> None:
        self.sequences, self.frames, self.size, self.seed = sequences, frames, size, seed

    def __len__(self) -> int:
        return self.sequences * self.frames

    def meta(self, index: int) -> FrameMeta:
        sequence, frame = divmod(index, self.frames)
        return FrameMeta(f"seq{sequence}", frame, f"blobs/seq{sequence}/{frame}")

    def load(self, index: int) -> Sample:
        sequence, frame = divmod(index, self.frames)
        rng = np.random.default_rng([self.seed, sequence, frame])
        s = self.size
        mask = np.zeros((s, s), dtype=np.int64)
        top = (3 * sequence + frame) % (s // 2)
        mask[top : top + s // 3, 4 : 4 + s // 3] = 1
        mask[:, s - 4 - sequence % 3 : s - 2] = 2
        image = (rng.normal(0.3, 0.05, size=(s, s, 3)) * 255).clip(0, 255)
        image[mask == 1] = (220, 200, 40)
        image[mask == 2] = (40, 60, 220)
        return Sample(image.astype(np.uint8), mask, self.meta(index))
