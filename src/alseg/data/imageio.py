"""Image, mask and file-list reading shared by the file-based dataset loaders.

Every failure (missing, unreadable or corrupt file, unexpected image mode, a list entry outside the
data root) raises DataError naming the file. ``FilePairDataset`` is the lazy base of the loaders:
constructors only list paths; pixels are read in ``load``.
"""

from __future__ import annotations

import posixpath
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from alseg.data.base import IGNORE_INDEX, FrameMeta, Sample, SegDataset, check_sample
from alseg.errors import ConfigError, DataError

#: PIL modes read as class indices (a palette image gives its indices, never its colours).
INDEX_MODES = frozenset({"L", "P", "I;16", "I;16L", "I;16B", "I"})
#: PIL modes read as colour-coded masks (alpha is dropped).
COLOR_MODES = frozenset({"RGB", "RGBA"})
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image file."""
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # PIL signals corrupt files with many exception types
        raise DataError(f"{path}: cannot read image ({exc})") from exc


#: Integer image modes wider than 8 bits, with their full-scale value (medical scans, depth).
WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I": 65535}


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 HxWx3 RGB; 16-bit grayscale scaled down (value * 255 / 65535),
    not clipped; 32-bit float images are refused."""
    img = open_image(path)
    if img.mode in WIDE_MODES:
        values = np.asarray(img, dtype=np.int64)
        if values.min() < 0 or values.max() > WIDE_MODES[img.mode]:
            raise DataError(f"{path}: {img.mode} values outside 0..65535 (a 16-bit image expected)")
        gray = (values * 255 + WIDE_MODES[img.mode] // 2) // WIDE_MODES[img.mode]
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    if img.mode == "F":
        raise DataError(f"{path}: 32-bit float images are not supported; save as 8 or 16 bit")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.array(img)  # a writable copy: torch.from_numpy needs one


def index_array(img: Image.Image, path: Path) -> np.ndarray:
    """The class indices of a single-channel (L, P, I;16, I) mask; other modes raise DataError."""
    if img.mode not in INDEX_MODES:
        raise DataError(
            f"{path}: mask mode {img.mode} is not a single-channel index image "
            f"(allowed: {', '.join(sorted(INDEX_MODES))})"
        )
    return np.asarray(img)


def color_array(img: Image.Image, path: Path) -> np.ndarray:
    """The uint8 HxWx3 RGB colours of an RGB(A) mask; other modes raise DataError."""
    if img.mode not in COLOR_MODES:
        raise DataError(f"{path}: mask mode {img.mode} is not a colour image (allowed: RGB, RGBA)")
    return np.asarray(img)[..., :3]


def read_index_mask(path: Path) -> np.ndarray:
    """An index mask PNG as an integer HxW array (uint8, uint16 or int32)."""
    return index_array(open_image(path), path)


def read_color_mask(path: Path) -> np.ndarray:
    """A colour mask PNG as uint8 HxWx3 RGB."""
    return color_array(open_image(path), path)


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """RGB triples (..., 3) as int32 codes 0xRRGGBB."""
    c = np.asarray(colors).astype(np.int32, copy=False)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


class ColorTable:
    """Maps RGB colours (all distinct) to class ids; other colours map to IGNORE_INDEX."""

    def __init__(self, colors: Sequence[tuple[int, int, int]], ids: Sequence[int]) -> None:
        codes = pack_rgb(np.asarray(colors, dtype=np.int64).reshape(-1, 3))
        order = np.argsort(codes)
        self.codes = codes[order]
        self.ids = np.asarray(ids, dtype=np.int64)[order]

    def decode(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int64 class ids HxW, bool mask of pixels whose colour is not in the table)."""
        codes = pack_rgb(rgb)
        pos = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        unknown = self.codes[pos] != codes
        return np.where(unknown, IGNORE_INDEX, self.ids[pos]), unknown


def unknown_colors(rgb: np.ndarray, unknown: np.ndarray) -> dict[tuple[int, int, int], int]:
    """Pixel count of every colour flagged in ``unknown``."""
    codes, counts = np.unique(pack_rgb(rgb[unknown]), return_counts=True)
    return {
        (int(c >> 16), int((c >> 8) & 255), int(c & 255)): int(n)
        for c, n in zip(codes, counts, strict=True)
    }


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths and paths that climb out of ``root``."""
    entry = relative.strip().replace("\\", "/")
    normal = posixpath.normpath(entry) if entry else ""
    if not entry or entry.startswith("/") or normal == ".." or normal.startswith("../"):
        raise DataError(f"list entry {relative!r} is not a path inside the data root {root}")
    return root / normal


def read_list_file(path: Path) -> list[str]:
    """Non-empty, stripped lines of a text file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: list file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read list file ({exc})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else DataError naming it as ``what``."""
    if not path.is_dir():
        raise DataError(f"{what} {path} does not exist or is not a folder")
    return path


def list_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """Files in ``folder`` (not recursive) with one of ``suffixes`` (any case), sorted by name."""
    require_dir(folder, "folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())


def require_split(split: str, allowed: tuple[str, ...], dataset: str) -> None:
    if split not in allowed:
        raise ConfigError(f"unknown split {split!r} for {dataset}; allowed: {', '.join(allowed)}")


def require_root(root: Path | None, dataset: str) -> Path:
    if root is None:
        raise ConfigError(f"dataset {dataset!r} needs a data root (the folder holding it)")
    return require_dir(Path(root), f"{dataset} data root")


@dataclass(frozen=True)
class FilePair:
    """One sample on disk: its image, its mask (None when unlabeled) and its metadata."""

    image: Path
    mask: Path | None
    meta: FrameMeta


class FilePairDataset(SegDataset):
    """A dataset over a fixed list of image/mask files, read on demand."""

    def __init__(self, pairs: list[FilePair], source: Path | str) -> None:
        if not pairs:
            raise DataError(f"no {self.name} samples found in {source}")
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def meta(self, index: int) -> FrameMeta:
        return self.pairs[index].meta

    def has_mask(self, index: int) -> bool:
        return self.pairs[index].mask is not None

    def load(self, index: int) -> Sample:
        pair = self.pairs[index]
        image = self.read_image(pair.image)
        if pair.mask is None:
            mask = np.full(image.shape[:2], IGNORE_INDEX, dtype=np.int64)
            source = str(pair.image)
        else:
            mask = self.read_mask(pair.mask)
            source = str(pair.mask)
        return check_sample(Sample(image, mask, pair.meta), self.num_classes, source)

    def read_image(self, path: Path) -> np.ndarray:
        """The sample's uint8 HxWx3 RGB image."""
        return read_rgb(path)

    @abstractmethod
    def read_mask(self, path: Path) -> np.ndarray:
        """The sample's int64 HxW class ids (IGNORE_INDEX where unlabeled)."""
