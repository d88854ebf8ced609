"""Masks by the project's class list: colour or id PNGs -> class indices (255 ignore) and back."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from alseg.data.base import IGNORE_INDEX
from alseg.data.folder import ClassList, id_lookup, map_ids
from alseg.data.imageio import COLOR_MODES, INDEX_MODES, ColorTable, open_image, unknown_colors
from alseg.errors import DataError
from alseg.io import atomic_write_bytes

Color = tuple[int, int, int]

#: Colour-table value of a labelmap entry whose name is not a project class (values below).
_FOREIGN = -2


class MaskCodec:
    """Class indices 0..C-1 (255 ignore) of mask images, and class ids of classes.yaml back.

    Colour masks are read by the class colours (plus ``extra_ignore`` colours, read as ignore),
    or, when made with ``by_names``, by the colours an annotation tool's labelmap gives each
    class name."""

    def __init__(self, classes: ClassList, extra_ignore: Sequence[Color] = ()) -> None:
        self.names = tuple(classes.names)
        self.ids = tuple(classes.ids)
        self.colors = tuple(classes.colors)
        self.lut = id_lookup(self.ids)
        colors, values = list(classes.colors), list(range(len(classes.colors)))
        for color in (classes.ignore_color, *extra_ignore):
            if color is not None and color not in colors:
                colors.append(color)
                values.append(IGNORE_INDEX)
        self.table = ColorTable(colors, values)
        self.allowed = f"the class list (allowed: {[list(c) for c in self.colors]}; unlabelled "
        self.allowed += "pixels need an ignore_color)"
        self.foreign: dict[int, str] = {}
        self.id_values = np.asarray([*self.ids, IGNORE_INDEX], dtype=np.int64)
        self.id_dtype = np.uint8 if max(self.ids) <= 255 else np.uint16

    @classmethod
    def by_names(cls, classes: ClassList, labelmap: Mapping[str, Color], source: str) -> MaskCodec:
        """Colours read through ``labelmap`` (name -> colour, e.g. a CVAT labelmap.txt): a name
        of the class list is that class, "background" (unless a class) is ignore, and a pixel
        of any other name is an error naming it."""
        codec = cls(classes)
        colors, values = [], []
        for name, color in labelmap.items():
            if name in codec.names:
                value = codec.names.index(name)
            elif name == "background":
                value = IGNORE_INDEX
            else:
                value = _FOREIGN - len(codec.foreign)
                codec.foreign[value] = name
            colors.append(color)
            values.append(value)
        codec.table = ColorTable(colors, values)
        entries = ", ".join(f"{name} {list(color)}" for name, color in labelmap.items())
        codec.allowed = f"{source} (allowed: {entries})"
        return codec

    def decode(self, path: Path) -> np.ndarray:
        """Class indices (int64 HxW) of a mask file; DataError for unknown ids, colours, modes."""
        return self.decode_image(open_image(path), str(path))

    def decode_image(self, img: Image.Image, origin: str) -> np.ndarray:
        """Class indices of a decoded mask image; errors name ``origin``."""
        if img.mode in COLOR_MODES:
            rgb = np.asarray(img)[..., :3]
            indices, unknown = self.table.decode(rgb)
            if unknown.any():
                colors = [list(c) for c in list(unknown_colors(rgb, unknown))[:5]]
                raise DataError(f"{origin}: colours {colors} are not in {self.allowed}")
            if self.foreign and (indices < 0).any():
                names = [self.foreign[int(v)] for v in np.unique(indices[indices < 0])]
                raise DataError(
                    f"{origin}: labels {names} are not classes of the project (classes: "
                    f"{', '.join(self.names)}); rename them in the annotation tool or in "
                    "classes.yaml"
                )
            return indices
        if img.mode not in INDEX_MODES:
            raise DataError(
                f"{origin}: mask mode {img.mode} is neither a class-id image (L, P, I;16) nor a "
                "colour image (RGB, RGBA)"
            )
        raw = np.asarray(img).astype(np.int64)
        allowed = f"the class list (allowed: {sorted(self.ids)}"
        return map_ids(raw, self.lut, f"{origin}: class ids", allowed)

    def encode(self, indices: np.ndarray) -> np.ndarray:
        """Class ids of classes.yaml (uint8, or uint16 when an id exceeds 255) for indices."""
        positions = np.where(indices == IGNORE_INDEX, len(self.ids), indices)
        return self.id_values[positions].astype(self.id_dtype)

    def paint(self, indices: np.ndarray, ignore: Color = (0, 0, 0)) -> np.ndarray:
        """RGB uint8 HxWx3 of class indices in the class colours (``ignore`` where 255)."""
        palette = np.asarray([*self.colors, ignore], dtype=np.uint8)
        return palette[np.where(indices == IGNORE_INDEX, len(self.colors), indices)]


def png_bytes(array: np.ndarray) -> bytes:
    """A PNG of a uint8/uint16 HxW (L, I;16) or uint8 HxWx3 (RGB) array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_id_png(path: Path, ids: np.ndarray) -> None:
    """Write class ids as a single-channel PNG (L, or I;16 for uint16), atomically."""
    atomic_write_bytes(path, png_bytes(ids))


def write_synced(path: Path, data: bytes) -> None:
    """Write a new file and flush it to disk (no rename: for files in a folder that is not in
    use until a later atomic step commits it)."""
    with path.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
