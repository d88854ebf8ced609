"""Cityscapes (fine annotations), 19 trainId classes.

Layout under the data root::

    leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png

labelIds are mapped to trainIds; every id without a trainId (0-6, 9, 10, 14-16, 18, 29, 30 and
-1, stored as 255) becomes 255. Sequence = ``{city}_{seq}``, frame = the frame number.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from alseg.data.base import IGNORE_INDEX, FrameMeta
from alseg.data.imageio import (
    FilePair,
    FilePairDataset,
    read_index_mask,
    require_dir,
    require_root,
    require_split,
)
from alseg.errors import DataError

CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
CLASS_COLORS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip
#: labelId of each trainId 0..18.
TRAIN_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)

LABEL_TO_TRAIN = np.full(256, IGNORE_INDEX, dtype=np.int64)
LABEL_TO_TRAIN[list(TRAIN_LABEL_IDS)] = np.arange(len(TRAIN_LABEL_IDS))

SPLITS = ("train", "val", "test")
_IMAGE_NAME = re.compile(r"^(?P<city>.+)_(?P<seq>\d+)_(?P<frame>\d+)_leftImg8bit\.png$")


def label_to_train_ids(label_ids: np.ndarray, source: Path) -> np.ndarray:
    """Map a labelIds array (values 0..255) to int64 trainIds."""
    if label_ids.dtype != np.uint8 and label_ids.size:
        low, high = int(label_ids.min()), int(label_ids.max())
        if low < 0 or high > 255:
            raise DataError(f"{source}: label ids must lie in 0..255, found {low}..{high}")
    return LABEL_TO_TRAIN[label_ids]


class Cityscapes(FilePairDataset):
    name = "cityscapes"
    class_names = CLASS_NAMES
    class_colors = CLASS_COLORS

    def __init__(self, root: Path, split: str) -> None:
        image_dir = require_dir(root / "leftImg8bit" / split, "Cityscapes image folder")
        pairs = []
        for city_dir in sorted(p for p in image_dir.iterdir() if p.is_dir()):
            for image in sorted(city_dir.glob("*_leftImg8bit.png")):
                match = _IMAGE_NAME.match(image.name)
                if match is None:
                    continue
                city, seq, frame = match["city"], match["seq"], match["frame"]
                mask_name = f"{city}_{seq}_{frame}_gtFine_labelIds.png"
                mask = root / "gtFine" / split / city_dir.name / mask_name
                meta = FrameMeta(sequence=f"{city}_{seq}", frame=int(frame), path=str(image))
                pairs.append(FilePair(image, mask, meta))
        super().__init__(pairs, image_dir)

    def read_mask(self, path: Path) -> np.ndarray:
        return label_to_train_ids(read_index_mask(path), path)


def create(split: str, root: Path | None) -> Cityscapes:
    """Cityscapes ``split`` (train, val or test) under ``root``."""
    require_split(split, SPLITS, "cityscapes")
    return Cityscapes(require_root(root, "cityscapes"), split)
