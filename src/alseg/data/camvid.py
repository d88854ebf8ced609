"""CamVid (SegNet version), 11 classes.

Layout under the data root::

    {train,val,test}/{name}.png
    {train,val,test}annot/{name}.png    single-channel indices 0-10, 11 = Unlabelled (-> 255)

File names are ``{sequence}_{frame}`` with an optional ``f`` before the frame number
(``0001TP_006690.png``, ``Seq05VD_f00030.png``): sequence 0001TP, 0006R0, 0016E5 or Seq05VD
(the grammar of ``alseg.data.frames``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alseg.data.base import IGNORE_INDEX, FrameMeta
from alseg.data.frames import sequence_and_frame
from alseg.data.imageio import (
    FilePair,
    FilePairDataset,
    list_files,
    read_index_mask,
    require_root,
    require_split,
)

CLASS_NAMES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
    "Pedestrian", "Bicyclist",
)  # fmt: skip
CLASS_COLORS = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)  # fmt: skip
UNLABELLED = 11
SPLITS = ("train", "val", "test")


class CamVid(FilePairDataset):
    name = "camvid"
    class_names = CLASS_NAMES
    class_colors = CLASS_COLORS

    def __init__(self, root: Path, split: str) -> None:
        image_dir = root / split
        pairs = []
        for image in list_files(image_dir, (".png",)):
            sequence, frame = sequence_and_frame(image.stem)
            mask = root / f"{split}annot" / image.name
            pairs.append(FilePair(image, mask, FrameMeta(sequence, frame, str(image))))
        super().__init__(pairs, image_dir)

    def read_mask(self, path: Path) -> np.ndarray:
        mask = read_index_mask(path).astype(np.int64)
        mask[mask == UNLABELLED] = IGNORE_INDEX
        return mask


def create(split: str, root: Path | None) -> CamVid:
    """CamVid ``split`` (train, val or test) under ``root``."""
    require_split(split, SPLITS, "camvid")
    return CamVid(require_root(root, "camvid"), split)
