"""The dataset interface every loader implements.

A dataset is map-style and lazy: ``meta(i)`` is cheap (no image decoding), ``ds[i]`` loads one
sample. Images are uint8 HxWx3 RGB, masks int64 HxW with ``IGNORE_INDEX`` (255) where unlabeled.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from alseg.errors import DataError

IGNORE_INDEX = 255


@dataclass(frozen=True)
class FrameMeta:
    """Where a sample comes from: its sequence (drive, city, video), frame number and source."""

    sequence: str
    frame: int
    path: str = ""
    group: int = -1  # pool group (e.g. one anchor of Pool-Xf); -1 when the sample has none


@dataclass
class Sample:
    image: np.ndarray  # uint8, H x W x 3, RGB
    mask: np.ndarray  # int64, H x W, class ids or IGNORE_INDEX
    meta: FrameMeta


class SegDataset(ABC):
    """A lazily loaded semantic-segmentation dataset."""

    name: str = "dataset"
    class_names: tuple[str, ...] = ()
    #: One RGB colour per class, for previews; None means a generated palette.
    class_colors: tuple[tuple[int, int, int], ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def meta(self, index: int) -> FrameMeta:
        """Metadata of sample ``index`` without loading its pixels."""

    @abstractmethod
    def load(self, index: int) -> Sample:
        """Load sample ``index`` (already bounds-checked)."""

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} with {n} samples")
        return self.load(index % n)

    def notes(self) -> dict[str, Any]:
        """What the data itself reported while being read (e.g. unknown label colours)."""
        return {}

    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colours, for colour-coded previews."""
        if self.class_colors is not None:
            return np.asarray(self.class_colors, dtype=np.uint8)
        rng = np.random.default_rng(0)
        return rng.integers(40, 256, size=(self.num_classes, 3), dtype=np.uint8)


def check_sample(sample: Sample, num_classes: int, source: str) -> Sample:
    """Validate shapes, dtypes and ids of a loaded sample; raise DataError naming ``source``."""
    image, mask = sample.image, sample.mask
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"{source}: image must be uint8 HxWx3, got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise DataError(
            f"{source}: mask size {mask.shape[1]}x{mask.shape[0]} differs from image size "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    bad = (mask != IGNORE_INDEX) & ((mask < 0) | (mask >= num_classes))
    if bad.any():
        ids = np.unique(mask[bad])[:10].tolist()
        raise DataError(
            f"{source}: class ids {ids} outside 0..{num_classes - 1} (and {IGNORE_INDEX} = ignore)"
        )
    return sample


class SubsetDataset(SegDataset):
    """The samples of ``base`` at ``indices`` (in that order), with the base's classes."""

    def __init__(self, base: SegDataset, indices: np.ndarray | list[int]) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.name = base.name
        self.class_names = base.class_names
        self.class_colors = base.class_colors

    def __len__(self) -> int:
        return len(self.indices)

    def meta(self, index: int) -> FrameMeta:
        return self.base.meta(int(self.indices[index]))

    def load(self, index: int) -> Sample:
        return self.base[int(self.indices[index])]

    def notes(self) -> dict[str, Any]:
        return self.base.notes()
