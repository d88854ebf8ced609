"""Returned masks: PNG files, folders, CVAT "Segmentation mask 1.1" exports, Label Studio JSON.

Every source yields ``ReturnedMask`` items (image stem, where it came from, a reader of its class
indices); the project's import validates them all before writing anything.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from alseg.annotation.codec import Color, MaskCodec
from alseg.data.folder import ClassList
from alseg.data.imageio import list_files
from alseg.errors import DataError

LABELMAP = "labelmap.txt"
CLASS_FOLDER = "SegmentationClass"


@dataclass(frozen=True)
class ReturnedMask:
    """One returned mask: the stem of its image, where it came from (for messages) and a reader
    of its class indices (int64 HxW, 255 ignore; None when nothing is labelled)."""

    stem: str
    origin: str
    read: Callable[[], np.ndarray | None]


@dataclass
class Returned:
    """The masks of a source, and the images of annotation tasks nobody annotated."""

    masks: list[ReturnedMask]
    not_annotated: list[str] = field(default_factory=list)


def parse_labelmap(text: str, source: str) -> dict[str, Color]:
    """Colours by name of a CVAT/VOC ``labelmap.txt`` (``name:r,g,b:parts:actions`` lines)."""
    colors: dict[str, Color] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        try:
            rgb = tuple(int(v) for v in parts[1].split(","))
        except (IndexError, ValueError):
            raise DataError(f"{source}: bad labelmap line {line!r}") from None
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise DataError(f"{source}: bad colour in labelmap line {line!r}")
        if parts[0] in colors:
            raise DataError(f"{source}: label {parts[0]!r} is listed twice")
        colors[parts[0]] = (rgb[0], rgb[1], rgb[2])
    return colors


def _codec(classes: ClassList, labelmap: str | None, source: str) -> MaskCodec:
    """Colours by the labelmap's names when there is one, else by the class list's colours."""
    if labelmap is None:
        return MaskCodec(classes)
    return MaskCodec.by_names(classes, parse_labelmap(labelmap, source), source)


def _png_reader(
    codec: MaskCodec, stem: str, origin: str, load: Callable[[], bytes]
) -> ReturnedMask:
    def read() -> np.ndarray:
        try:
            with Image.open(io.BytesIO(load())) as img:
                img.load()
                return codec.decode_image(img, origin)
        except DataError:
            raise
        except Exception as exc:  # PIL signals corrupt files with many exception types
            raise DataError(f"{origin}: cannot read image ({exc})") from exc

    return ReturnedMask(stem, origin, read)


def _file_mask(codec: MaskCodec, path: Path) -> ReturnedMask:
    def load() -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc})") from exc

    return _png_reader(codec, path.stem, str(path), load)


@contextmanager
def returned_masks(source: Path, classes: ClassList, stems: Collection[str]) -> Iterator[Returned]:
    """The masks of ``source``: a .png; a folder of them (its ``SegmentationClass/`` subfolder
    when present); a .zip of either (a CVAT "Segmentation mask 1.1" export); or a Label Studio
    JSON export (.json). A ``labelmap.txt`` beside the masks maps colours to classes by name.
    ``stems`` are the project's images (to recognise Label Studio's upload names)."""
    suffix = source.suffix.lower()
    if source.is_file() and suffix == ".json":
        from alseg.annotation.labelstudio import read_export

        yield read_export(source, classes, stems)
    elif source.is_file() and suffix == ".zip":
        with _zip_masks(source, classes) as masks:
            yield masks
    elif source.is_file():
        if suffix != ".png":
            raise DataError(
                f"{source}: masks must be .png files, a folder or .zip of them, or a Label "
                "Studio JSON export (.json)"
            )
        yield Returned([_file_mask(MaskCodec(classes), source)])
    elif source.is_dir():
        folder = source / CLASS_FOLDER if (source / CLASS_FOLDER).is_dir() else source
        files = list_files(folder, (".png",))
        if not files:
            raise DataError(f"no .png masks in {folder}")
        labelmap = source / LABELMAP
        text = labelmap.read_text(encoding="utf-8") if labelmap.is_file() else None
        codec = _codec(classes, text, str(labelmap))
        yield Returned([_file_mask(codec, path) for path in files])
    else:
        raise DataError(f"masks {source} not found (give a .png, a folder, a .zip or a .json)")


@contextmanager
def _zip_masks(archive: Path, classes: ClassList) -> Iterator[Returned]:
    """The masks of a zip: those in a ``SegmentationClass/`` folder, else the top-level .png
    files; read from the archive itself, so messages name ``archive:member``."""
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{archive}: not a readable .zip ({exc})") from exc
    with bundle:
        names = [n for n in bundle.namelist() if n.lower().endswith(".png")]
        in_class = [n for n in names if PurePosixPath(n).parent.name == CLASS_FOLDER]
        chosen = in_class or [n for n in names if "/" not in n]
        if not chosen:
            raise DataError(f"{archive}: no .png masks at the top level or in {CLASS_FOLDER}/")
        base = PurePosixPath(chosen[0]).parent.parent if in_class else PurePosixPath()
        labelmap = (base / LABELMAP).as_posix()
        text = None
        if labelmap in bundle.namelist():
            text = bundle.read(labelmap).decode("utf-8", errors="replace")
        codec = _codec(classes, text, f"{archive}:{labelmap}")

        def member(name: str) -> ReturnedMask:
            def load() -> bytes:
                try:
                    return bundle.read(name)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise DataError(f"{archive}:{name}: cannot read ({exc})") from exc

            return _png_reader(codec, PurePosixPath(name).stem, f"{archive}:{name}", load)

        yield Returned([member(name) for name in sorted(chosen)])
