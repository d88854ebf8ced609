"""PASCAL-VOC 2012 segmentation, augmented (SBD) labels by default; 21 classes.

Layout under the data root::

    JPEGImages/{name}.jpg
    SegmentationClassAug/{name}.png    single-channel indices 0-20, 255 = void
    SegmentationClass/{name}.png       original palette PNGs (option masks="SegmentationClass")
    ImageSets/Segmentation/{train_aug,train,val}.txt

The split list holds one image name per line. The default list is ``train_aug.txt`` for train with
the augmented masks, ``train.txt`` with the original ones, ``val.txt`` for val; option
``list_file`` names another one. Palette PNGs are read as indices, never as colours. Every image
is its own sequence (frame 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alseg.data.base import FrameMeta
from alseg.data.imageio import (
    FilePair,
    FilePairDataset,
    read_index_mask,
    read_list_file,
    require_dir,
    require_root,
    require_split,
    resolve_inside,
)
from alseg.errors import ConfigError, DataError

CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
MASK_FOLDERS = ("SegmentationClassAug", "SegmentationClass")
SPLITS = ("train", "val")


def voc_palette(n: int = 256) -> tuple[tuple[int, int, int], ...]:
    """The VOC colour map: the bits of the class index spread over the high bits of R, G, B."""
    colors = []
    for index in range(n):
        rgb = [0, 0, 0]
        value = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colors.append((rgb[0], rgb[1], rgb[2]))
    return tuple(colors)


def default_list(root: Path, split: str, masks: str) -> Path:
    """The split list used when no list_file is given."""
    train = "train_aug" if masks == "SegmentationClassAug" else "train"
    return root / "ImageSets" / "Segmentation" / f"{'val' if split == 'val' else train}.txt"


class PascalVOC(FilePairDataset):
    name = "pascal_voc"
    class_names = CLASS_NAMES
    class_colors = voc_palette(len(CLASS_NAMES))

    def __init__(self, root: Path, names: list[str], masks: str, list_file: Path) -> None:
        image_dir = require_dir(root / "JPEGImages", "PASCAL-VOC image folder")
        mask_dir = root / masks
        pairs = []
        for name in names:
            if len(name.split()) != 1:
                raise DataError(f"{list_file}: expected one image name per line, got {name!r}")
            image = resolve_inside(image_dir, f"{name}.jpg")
            mask = resolve_inside(mask_dir, f"{name}.png")
            pairs.append(FilePair(image, mask, FrameMeta(sequence=name, frame=0, path=str(image))))
        super().__init__(pairs, list_file)

    def read_mask(self, path: Path) -> np.ndarray:
        return read_index_mask(path).astype(np.int64)


def create(
    split: str,
    root: Path | None,
    list_file: str | Path | None = None,
    masks: str = "SegmentationClassAug",
) -> PascalVOC:
    """PASCAL-VOC ``split`` under ``root``; ``masks`` picks the label folder."""
    require_split(split, SPLITS, "pascal_voc")
    if masks not in MASK_FOLDERS:
        allowed = ", ".join(MASK_FOLDERS)
        raise ConfigError(f"unknown masks {masks!r} for pascal_voc; allowed: {allowed}")
    root = require_root(root, "pascal_voc")
    path = Path(list_file) if list_file is not None else default_list(root, split, masks)
    if not path.is_file():
        raise DataError(
            f"split list {path} not found; put it there or pass list_file=PATH (one name per line)"
        )
    return PascalVOC(root, read_list_file(path), masks, path)
