"""The images of a project folder: listing, sizes, the dataset over them, the working size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from alseg.annotation import MaskCodec
from alseg.data.base import FrameMeta
from alseg.data.frames import sequence_and_frame
from alseg.data.imageio import (
    FilePair,
    FilePairDataset,
    list_files,
)
from alseg.errors import DataError

#: Images whose longer side exceeds this are resized for training and scoring.
MAX_NATIVE_SIDE = 256


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (not recursive), sorted; DataError for none or repeated stems."""
    images = list_files(folder)
    if not images:
        raise DataError(f"no .png/.jpg images in {folder}")
    stems = Counter(p.stem for p in images)
    repeated = next((p for p in images if stems[p.stem] > 1), None)
    if repeated is not None:
        raise DataError(f"{repeated}: a second image named {repeated.stem!r} (one per file stem)")
    return images


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header."""
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


class ImageFolderDataset(FilePairDataset):
    """Images of a folder; masks from ``masks`` (stem -> file), decoded by ``codec``. Sequence and
    frame come from ``{sequence}_{digits}`` file stems (any other stem is its own sequence)."""

    name = "images"

    def __init__(
        self,
        images: Sequence[Path],
        source: Path,
        codec: MaskCodec | None = None,
        masks: dict[str, Path] | None = None,
    ) -> None:
        self.codec = codec
        self.class_names = codec.names if codec else ("image",)
        self.class_colors = codec.colors if codec else None
        masks = masks or {}
        pairs = []
        for image in images:
            sequence, frame = sequence_and_frame(image.stem)
            meta = FrameMeta(sequence=sequence, frame=frame, path=str(image))
            pairs.append(FilePair(image, masks.get(image.stem), meta))
        super().__init__(pairs, source)

    def read_mask(self, path: Path) -> np.ndarray:
        if self.codec is None:
            raise DataError(f"{path}: masks need a class list")
        return self.codec.decode(path)


def default_working_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """None (native) when all images share one size within MAX_NATIVE_SIDE; otherwise the most
    common size scaled to a longer side of MAX_NATIVE_SIDE, both sides multiples of 16."""
    common, _ = Counter(sizes).most_common(1)[0]
    if len(set(sizes)) == 1 and max(common) <= MAX_NATIVE_SIDE:
        return None
    scale = MAX_NATIVE_SIDE / max(common)
    height, width = (max(32, 16 * round(side * scale / 16)) for side in common)
    return height, width
