"""A2D2 (Audi Autonomous Driving Dataset) semantic segmentation, mapped to 19 classes.

Layout under the data root (view ``front_center``, ``seqnodash`` = sequence without ``_``)::

    {seq}/camera/cam_front_center/{seqnodash}_camera_frontcenter_{frame:09d}.png
    {seq}/label/cam_front_center/{seqnodash}_label_frontcenter_{frame:09d}.png

Labels are RGB colours (decoded as RGB, not BGR), mapped by ``A2D2_COLORS`` to Cityscapes trainIds
(default) or to the seed paper's own 19-id scheme (``label_scheme="paper"``). Colours outside the
table become 255; the dataset object counts them (``unknown_color_pixels``, ``report()``) and warns
once per new colour. Counts are kept per process (each DataLoader worker counts its own).
Images are resized by ``scale`` (default 1/3: image bilinear, label nearest, label resized before
decoding so counts refer to delivered pixels). Validation is sequence ``20180925_112730``, train
every other sequence found; option ``list_file`` instead takes the images (relative paths, one per
line, e.g. an official pool list) in list order, duplicates kept.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alseg.data.base import FrameMeta
from alseg.data.cityscapes import CLASS_COLORS as CITYSCAPES_COLORS
from alseg.data.cityscapes import CLASS_NAMES as CITYSCAPES_NAMES
from alseg.data.imageio import (
    ColorTable,
    FilePair,
    FilePairDataset,
    color_array,
    open_image,
    read_rgb,
    require_root,
    require_split,
    resolve_inside,
    unknown_colors,
)
from alseg.data.pools import read_pool_list
from alseg.data.tally import ColorTally
from alseg.errors import ConfigError, DataError

VAL_SEQUENCE = "20180925_112730"
SPLITS = ("train", "val")
LABEL_SCHEMES = ("cityscapes", "paper")

#: (A2D2 class, RGB colour 0xRRGGBB, Cityscapes trainId, paper id); 255 = ignore.
A2D2_COLORS: tuple[tuple[str, int, int, int], ...] = (
    ("Car 1", 0xFF0000, 13, 1),
    ("Car 2", 0xC80000, 13, 1),
    ("Car 3", 0x960000, 13, 1),
    ("Car 4", 0x800000, 13, 1),
    ("Bicycle 1", 0xB65906, 18, 2),
    ("Bicycle 2", 0x963204, 18, 2),
    ("Bicycle 3", 0x5A1E01, 18, 2),
    ("Bicycle 4", 0x5A1E1E, 18, 2),
    ("Pedestrian 1", 0xCC99FF, 11, 3),
    ("Pedestrian 2", 0xBD499B, 11, 3),
    ("Pedestrian 3", 0xEF59BF, 11, 3),
    ("Truck 1", 0xFF8000, 14, 4),
    ("Truck 2", 0xC88000, 14, 4),
    ("Truck 3", 0x968000, 14, 4),
    ("Small vehicles 1", 0x00FF00, 17, 11),
    ("Small vehicles 2", 0x00C800, 17, 11),
    ("Small vehicles 3", 0x009600, 17, 11),
    ("Traffic signal 1", 0x0080FF, 6, 5),
    ("Traffic signal 2", 0x1E1C9E, 6, 5),
    ("Traffic signal 3", 0x3C1C64, 6, 5),
    ("Traffic sign 1", 0x00FFFF, 7, 6),
    ("Traffic sign 2", 0x1EDCDC, 7, 6),
    ("Traffic sign 3", 0x3C9DC7, 7, 6),
    ("Utility vehicle 1", 0xFFFF00, 13, 13),
    ("Utility vehicle 2", 0xFFFFC8, 13, 13),
    ("Sidebars", 0xE96400, 4, 14),
    ("Speed bumper", 0x6E6E00, 0, 0),
    ("Curbstone", 0x808000, 1, 17),
    ("Solid line", 0xFFC125, 0, 15),
    ("Irrelevant signs", 0x400040, 255, 18),
    ("Road blocks", 0xB97A57, 4, 12),
    ("Tractor", 0x000064, 14, 18),
    ("Non-drivable street", 0x8B636C, 0, 7),
    ("Zebra crossing", 0xD23273, 0, 0),
    ("Obstacles / trash", 0xFF0080, 255, 18),
    ("Poles", 0xFFF68F, 5, 14),
    ("RD restricted area", 0x960096, 0, 0),
    ("Animals", 0xCCFF99, 255, 18),
    ("Grid structure", 0xEEA2AD, 0, 12),
    ("Signal corpus", 0x212CB1, 6, 14),
    ("Drivable cobblestone", 0xB432B4, 0, 0),
    ("Electronic traffic", 0xFF46B9, 255, 18),
    ("Slow drive area", 0xEEE9BF, 0, 0),
    ("Nature object", 0x93FDC2, 8, 8),
    ("Parking area", 0x9696C8, 0, 18),
    ("Sidewalk", 0xB496C8, 1, 7),
    ("Ego car", 0x48D1CC, 255, 18),
    ("Painted driv. instr.", 0xC87DD2, 0, 15),
    ("Traffic guide obj.", 0x9F79EE, 0, 16),
    ("Dashed line", 0x8000FF, 0, 15),
    ("RD normal street", 0xFF00FF, 0, 0),
    ("Sky", 0x87CEFF, 10, 9),
    ("Buildings", 0xF1E6FF, 2, 10),
    ("Blurred area", 0x60458F, 255, 18),
    ("Rain dirt", 0x352E52, 255, 18),
)

#: Names of the paper scheme's ids 0..18, after the A2D2 classes merged into each.
PAPER_CLASS_NAMES = (
    "road", "car", "bicycle", "pedestrian", "truck", "traffic signal", "traffic sign",
    "sidewalk", "nature", "sky", "building", "small vehicle", "road block", "utility vehicle",
    "pole", "lane marking", "traffic guide", "curbstone", "other",
)  # fmt: skip


def _rgb(code: int) -> tuple[int, int, int]:
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def _first_color_of_each(paper_id: int) -> tuple[int, int, int]:
    return next(_rgb(code) for _, code, _, pid in A2D2_COLORS if pid == paper_id)


PAPER_CLASS_COLORS = tuple(_first_color_of_each(i) for i in range(len(PAPER_CLASS_NAMES)))
_COLORS_RGB = [_rgb(code) for _, code, _, _ in A2D2_COLORS]
_TABLES = {
    "cityscapes": ColorTable(_COLORS_RGB, [cs for _, _, cs, _ in A2D2_COLORS]),
    "paper": ColorTable(_COLORS_RGB, [pid for _, _, _, pid in A2D2_COLORS]),
}
_FRAME = re.compile(r"_(\d{9})\.png$")


def label_path_for(camera_relative: str) -> str:
    """The label image's relative path: ``camera`` -> ``label`` in the folder and file name."""
    parts = camera_relative.split("/")
    if len(parts) < 4 or parts[-3] != "camera" or "_camera_" not in parts[-1]:
        raise DataError(
            f"{camera_relative!r} is not an A2D2 camera path ({{seq}}/camera/cam_*/...)"
        )
    parts[-3] = "label"
    parts[-1] = parts[-1].replace("_camera_", "_label_", 1)
    return "/".join(parts)


def _pair(root: Path, relative: str) -> FilePair:
    image = resolve_inside(root, relative)
    inside = image.relative_to(root).as_posix()
    match = _FRAME.search(inside)
    if match is None:
        raise DataError(f"{relative!r} does not end in a 9-digit frame number and .png")
    mask = root / label_path_for(inside)
    parts = inside.split("/")
    camera = parts[2] if len(parts) > 3 else ""
    sequence = f"{parts[0]}/{camera}" if camera else parts[0]  # each camera is its own video
    meta = FrameMeta(sequence=sequence, frame=int(match[1]), path=str(image))
    return FilePair(image, mask, meta)


def scan(root: Path, split: str, view: str) -> list[str]:
    """Relative camera paths of ``split``: sorted by sequence, then frame."""
    found = []
    for seq_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if (seq_dir.name == VAL_SEQUENCE) != (split == "val"):
            continue
        cam_dir = seq_dir / "camera" / f"cam_{view}"
        if cam_dir.is_dir():
            names = sorted(p.name for p in cam_dir.glob("*_camera_*.png") if _FRAME.search(p.name))
            found += [f"{seq_dir.name}/camera/cam_{view}/{name}" for name in names]
    return found


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


class A2D2(FilePairDataset):
    name = "a2d2"

    def __init__(
        self, root: Path, relatives: list[str], label_scheme: str, scale: float, source: Path | str
    ) -> None:
        self.label_scheme = label_scheme
        self.class_names = CITYSCAPES_NAMES if label_scheme == "cityscapes" else PAPER_CLASS_NAMES
        self.class_colors = (
            CITYSCAPES_COLORS if label_scheme == "cityscapes" else PAPER_CLASS_COLORS
        )
        self.scale = scale
        self.unknown_colors = ColorTally()
        super().__init__([_pair(root, rel) for rel in relatives], source)

    def read_image(self, path: Path) -> np.ndarray:
        image = read_rgb(path)
        if self.scale == 1:
            return image
        size = scaled_size(image.shape[1], image.shape[0], self.scale)
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))

    def read_mask(self, path: Path) -> np.ndarray:
        label = open_image(path)
        if self.scale != 1:
            label = label.resize(scaled_size(*label.size, self.scale), Image.Resampling.NEAREST)
        rgb = color_array(label, path)
        ids, unknown = _TABLES[self.label_scheme].decode(rgb)
        if unknown.any():
            self._count_unknown(unknown_colors(rgb, unknown), path)
        return ids

    def _count_unknown(self, counts: dict[tuple[int, int, int], int], path: Path) -> None:
        for color in self.unknown_colors.add(counts):
            warnings.warn(
                f"{path}: colour {color} is not an A2D2 class colour; its pixels are ignored",
                stacklevel=2,
            )

    def notes(self) -> dict[str, Any]:
        """Unknown label colours met so far (in this process and its DataLoader workers)."""
        return self.unknown_colors.notes()

    def report(self) -> str:
        """One line on the unknown label colours met so far."""
        counts = self.unknown_colors.counts()
        if not counts:
            return "a2d2: no unknown label colours"
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
        listed = ", ".join(f"{color}: {n}" for color, n in top)
        return (
            f"a2d2: {self.unknown_colors.total()} pixels with {len(counts)} "
            f"unknown label colours set to ignore (most frequent: {listed})"
        )


def create(
    split: str,
    root: Path | None,
    view: str = "front_center",
    label_scheme: str = "cityscapes",
    scale: float = 1 / 3,
    list_file: str | Path | None = None,
) -> A2D2:
    """A2D2 ``split`` under ``root`` (or the images of ``list_file``)."""
    require_split(split, SPLITS, "a2d2")
    if label_scheme not in LABEL_SCHEMES:
        raise ConfigError(
            f"unknown label_scheme {label_scheme!r} for a2d2; allowed: {', '.join(LABEL_SCHEMES)}"
        )
    if not isinstance(scale, int | float) or not 0 < scale <= 1:
        raise ConfigError(f"a2d2 scale must lie in (0, 1], got {scale}")
    if not re.fullmatch(r"[a-z]+(_[a-z]+)*", view):
        raise ConfigError(f"a2d2 view {view!r} must look like front_center or side_left")
    root = require_root(root, "a2d2")
    if list_file is None:
        relatives = scan(root, split, view)
        seqs = VAL_SEQUENCE if split == "val" else f"* (all but {VAL_SEQUENCE})"
        source = f"{root}/{seqs}/camera/cam_{view}"
    else:
        source = Path(list_file)
        relatives = read_pool_list(source, dedupe=True)
    return A2D2(root, relatives, label_scheme, scale, source)
