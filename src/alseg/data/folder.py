"""A user's own data in a plain folder layout.

Layout under the data root::

    classes.yaml
    images/{stem}.png|.jpg      training split
    masks/{stem}.png            its masks (optional per image)
    val/images/, val/masks/     validation split, same rules

``classes.yaml`` is a list of classes, or a mapping with that list under ``classes`` and an optional
``ignore_color`` (the colour of unlabelled pixels in colour masks)::

    classes:
      - {name: road, id: 0, color: [128, 64, 128]}
      - {name: car, id: 7, color: [0, 0, 142]}
    ignore_color: [0, 0, 0]

Class ids (any distinct integers 0..65535 except 255, the ignore id) become 0..C-1 in list order.
A mask is read by its PNG mode: RGB(A) masks by colour (an unknown colour is an error), L/P/16-bit
masks as ids (palette PNGs give their indices; an id not in classes.yaml is an error; 255 =
ignore). Images without a mask are unlabeled: their mask is all 255 and ``has_mask(i)`` is False.
A file ``{seq}_{digits}`` is frame ``digits`` of sequence ``seq`` (``drive_a_000123``: frame 123 of
``drive_a``; the full grammar is in ``alseg.data.frames``); any other name is its own sequence,
frame 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from alseg.data.base import IGNORE_INDEX, FrameMeta
from alseg.data.frames import sequence_and_frame
from alseg.data.imageio import (
    COLOR_MODES,
    ColorTable,
    FilePair,
    FilePairDataset,
    color_array,
    index_array,
    list_files,
    open_image,
    require_dir,
    require_root,
    require_split,
    unknown_colors,
)
from alseg.errors import DataError

SPLITS = ("train", "val")
MAX_ID = 65535


def _color(value: Any, path: Path, what: str) -> tuple[int, int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        raise DataError(f"{path}: {what} must be [r, g, b] with integers 0..255, got {value!r}")
    return int(value[0]), int(value[1]), int(value[2])


def id_lookup(ids: Sequence[int]) -> np.ndarray:
    """Table from a mask's class id to the contiguous index (255 stays ignore, others -1)."""
    table = np.full(max(MAX_ID, IGNORE_INDEX) + 1, -1, dtype=np.int64)
    table[list(ids)] = np.arange(len(ids))
    table[IGNORE_INDEX] = IGNORE_INDEX
    return table


def map_ids(raw: np.ndarray, table: np.ndarray, what: str, allowed: str) -> np.ndarray:
    """Contiguous class indices of a mask's ids; DataError naming up to 10 unknown ids."""
    valid = (raw >= 0) & (raw < len(table))
    indices = np.where(valid, table[np.where(valid, raw, 0)], -1)
    if (indices < 0).any():
        bad = np.unique(raw[indices < 0])[:10].tolist()
        raise DataError(f"{what} {bad} are not in {allowed}, {IGNORE_INDEX} = ignore)")
    return indices


class ClassList:
    """The classes of ``classes.yaml``: names, original ids, colours and the ignore colour."""

    def __init__(self, path: Path) -> None:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: class list not found (see the folder layout)") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DataError(f"{path}: cannot read class list ({exc})") from exc
        if isinstance(doc, dict):
            entries, ignore = doc.get("classes"), doc.get("ignore_color")
        else:
            entries, ignore = doc, None
        if not isinstance(entries, list) or not entries:
            raise DataError(f"{path}: expected a non-empty list of {{name, id, color}} classes")
        self.names: list[str] = []
        self.ids: list[int] = []
        self.colors: list[tuple[int, int, int]] = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"name", "id", "color"}:
                raise DataError(
                    f"{path}: each class needs exactly name, id and color, got {entry!r}"
                )
            name, class_id = entry["name"], entry["id"]
            if not isinstance(name, str) or not name:
                raise DataError(f"{path}: class name must be a non-empty string, got {name!r}")
            if (
                not isinstance(class_id, int)
                or isinstance(class_id, bool)
                or not 0 <= class_id <= MAX_ID
                or class_id == IGNORE_INDEX
            ):
                raise DataError(
                    f"{path}: class {name!r} id must be an integer 0..{MAX_ID} other than "
                    f"{IGNORE_INDEX} (ignore), got {class_id!r}"
                )
            self.names.append(name)
            self.ids.append(class_id)
            self.colors.append(_color(entry["color"], path, f"class {name!r} color"))
        self.ignore_color = None if ignore is None else _color(ignore, path, "ignore_color")
        for what, values in (("name", self.names), ("id", self.ids), ("color", self.colors)):
            dup = next((v for i, v in enumerate(values) if v in values[:i]), None)
            if dup is not None:
                raise DataError(f"{path}: class {what} {dup!r} is listed twice")
        if self.ignore_color in self.colors:
            raise DataError(f"{path}: ignore_color {self.ignore_color} is also a class colour")


class FolderDataset(FilePairDataset):
    name = "folder"

    def __init__(self, split_dir: Path, classes: ClassList) -> None:
        self.class_names = tuple(classes.names)
        self.class_colors = tuple(classes.colors)
        self.allowed_ids = sorted(classes.ids)
        self.id_lut = id_lookup(classes.ids)
        colors, ids = list(classes.colors), list(range(len(classes.colors)))
        if classes.ignore_color is not None:
            colors.append(classes.ignore_color)
            ids.append(IGNORE_INDEX)
        self.colors = ColorTable(colors, ids)
        super().__init__(self._pairs(split_dir), split_dir / "images")

    @staticmethod
    def _pairs(split_dir: Path) -> list[FilePair]:
        images = list_files(require_dir(split_dir / "images", "image folder"))
        mask_dir = split_dir / "masks"
        masks = {p.stem: p for p in list_files(mask_dir, (".png",))} if mask_dir.is_dir() else {}
        stems: set[str] = set()
        for image in images:
            if image.stem in stems:
                raise DataError(f"{image}: a second image named {image.stem!r} (one per stem)")
            stems.add(image.stem)
        orphans = sorted(set(masks) - stems)
        if orphans:
            raise DataError(f"{masks[orphans[0]]}: mask without an image in {split_dir / 'images'}")
        pairs = []
        for image in images:
            sequence, frame = sequence_and_frame(image.stem)
            meta = FrameMeta(sequence=sequence, frame=frame, path=str(image))
            pairs.append(FilePair(image, masks.get(image.stem), meta))
        return pairs

    def read_mask(self, path: Path) -> np.ndarray:
        img = open_image(path)
        if img.mode in COLOR_MODES:
            rgb = color_array(img, path)
            ids, unknown = self.colors.decode(rgb)
            if unknown.any():
                colors = list(unknown_colors(rgb, unknown))[:5]
                raise DataError(
                    f"{path}: colours {colors} are not in classes.yaml "
                    "(unlabelled pixels need its ignore_color)"
                )
            return ids
        raw = index_array(img, path).astype(np.int64)
        return map_ids(raw, self.id_lut, f"{path}: ids", f"classes.yaml (ids {self.allowed_ids}")


def create(split: str, root: Path | None) -> FolderDataset:
    """The ``split`` of a folder dataset: ``images/`` for train, ``val/images/`` for val."""
    require_split(split, SPLITS, "folder")
    root = require_root(root, "folder")
    split_dir = root if split == "train" else root / "val"
    return FolderDataset(split_dir, ClassList(root / "classes.yaml"))
