"""The ``synthdrive`` dataset and its options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alseg.config import parse_image_size
from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.cityscapes import CLASS_COLORS, CLASS_NAMES
from alseg.data.synthdrive.cache import DEFAULT_CACHE_MB, FRAMES
from alseg.data.synthdrive.drive import Drive
from alseg.data.synthdrive.labels import USED_CLASS_IDS
from alseg.data.synthdrive.style import CONDITIONS, MAX_DRIVES, DriveStyle
from alseg.errors import ConfigError

MAX_FRAMES_PER_DRIVE = 100_000
MAX_VAL_FRAMES_PER_DRIVE = 200
VAL_FIRST_FRAME, VAL_FRAME_STEP = 20, 40
MIN_SIZE, MAX_HEIGHT, MAX_WIDTH, SIZE_STEP = 32, 256, 512, 16


class SynthDrive(SegDataset):
    """Frames ``(drive, frame)`` of the procedurally rendered drives (see the package docstring)."""

    name = "synthdrive"
    class_names = CLASS_NAMES
    class_colors = CLASS_COLORS
    #: The trainIds that occur in the masks; the other Cityscapes classes never do.
    used_class_ids = USED_CLASS_IDS

    def __init__(
        self, drives: Sequence[int], frames_per_drive: int, first_frame: int, frame_step: int,
        image_size: tuple[int, int], seed: int,
    ) -> None:  # fmt: skip
        self.drives = tuple(int(d) for d in drives)
        self.frames_per_drive = frames_per_drive
        self.first_frame, self.frame_step = first_frame, frame_step
        self.image_size = image_size
        self.seed = seed
        self._drives: dict[int, Drive] = {}

    def __len__(self) -> int:
        return len(self.drives) * self.frames_per_drive

    def locate(self, index: int) -> tuple[int, int]:
        """(drive id, frame number) of sample ``index``."""
        drive = self.drives[index // self.frames_per_drive]
        return drive, self.first_frame + self.frame_step * (index % self.frames_per_drive)

    def meta(self, index: int) -> FrameMeta:
        drive, frame = self.locate(index)
        return FrameMeta(
            sequence=f"drive_{drive:03d}",
            frame=frame,
            path=f"synthdrive://seed{self.seed}/drive{drive}/frame{frame}",
        )

    def drive(self, drive: int) -> Drive:
        if drive not in self._drives:
            self._drives[drive] = Drive(self.seed, drive)
        return self._drives[drive]

    def style(self, drive: int) -> DriveStyle:
        return self.drive(drive).style

    def load(self, index: int) -> Sample:
        drive, frame = self.locate(index)
        key = (self.seed, drive, frame, *self.image_size)
        cached = FRAMES.get(key)
        if cached is None:
            image, mask = self.render(drive, frame)
            FRAMES.put(key, image, mask)
        else:
            image, mask = cached
        return Sample(image=image, mask=mask, meta=self.meta(index))

    def render(self, drive: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Image (uint8 HxWx3) and mask (int64 HxW trainIds, 255 unlabeled) of one frame."""
        return self.drive(drive).render(frame, *self.image_size)


_DEFAULTS: dict[str, Any] = {
    "image_size": (64, 128),
    "seed": 0,
    "num_drives": 20,
    "frames_per_drive": 300,
    "val_frames_per_drive": 9,
    "cache_mb": DEFAULT_CACHE_MB,
}


def _int_option(name: str, value: Any, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise ConfigError(f"synthdrive option {name}={value!r} must be an integer in {low}..{high}")
    return int(value)


def synthdrive_size(value: Any) -> tuple[int, int]:
    """(height, width) from "HxW" or a pair of ints (``config.parse_image_size``), checked
    against the sizes synthdrive renders."""
    allowed = (
        f"HxW with H in {MIN_SIZE}..{MAX_HEIGHT}, W in {MIN_SIZE}..{MAX_WIDTH}, "
        f"both multiples of {SIZE_STEP}"
    )
    try:
        height, width = parse_image_size(value)
    except ConfigError:
        raise ConfigError(f"synthdrive image_size {value!r} is not {allowed}") from None
    if not (
        MIN_SIZE <= height <= MAX_HEIGHT and MIN_SIZE <= width <= MAX_WIDTH
        and height % SIZE_STEP == 0 and width % SIZE_STEP == 0
    ):  # fmt: skip
        raise ConfigError(f"synthdrive image_size {height}x{width} is not {allowed}")
    return height, width


def create(split: str, root: Any = None, **options: Any) -> SynthDrive:
    """The ``synthdrive`` dataset. Train: drives 0..num_drives-1, every frame 0..frames_per_drive-1.
    Val: one held-out drive per (time, weather, road type), ``val_frames_per_drive`` frames spaced
    40 apart; it ignores num_drives and frames_per_drive, so it is the same for every train size.
    Rendered frames are kept in a process-wide memory of ``cache_mb`` MiB shared by every
    synthdrive dataset (``cache.FRAMES``; the last dataset created sets its size; 0 renders every
    read)."""
    if root is not None:
        raise ConfigError(f"synthdrive is generated on the fly and takes no data root (got {root})")
    unknown = sorted(set(options) - set(_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown synthdrive option {unknown[0]!r}; allowed: {', '.join(sorted(_DEFAULTS))}"
        )
    opts = {**_DEFAULTS, **options}
    image_size = synthdrive_size(opts["image_size"])
    seed = _int_option("seed", opts["seed"], 0, 2**31 - 1)
    num_drives = _int_option("num_drives", opts["num_drives"], 1, MAX_DRIVES)
    frames = _int_option("frames_per_drive", opts["frames_per_drive"], 1, MAX_FRAMES_PER_DRIVE)
    val_frames = _int_option(
        "val_frames_per_drive", opts["val_frames_per_drive"], 1, MAX_VAL_FRAMES_PER_DRIVE
    )
    FRAMES.resize(_int_option("cache_mb", opts["cache_mb"], 0, 1_000_000) * 2**20)
    if split == "train":
        return SynthDrive(range(num_drives), frames, 0, 1, image_size, seed)
    if split == "val":
        drives = range(MAX_DRIVES, MAX_DRIVES + len(CONDITIONS))
        return SynthDrive(drives, val_frames, VAL_FIRST_FRAME, VAL_FRAME_STEP, image_size, seed)
    raise ConfigError(f"unknown split {split!r}; allowed: train, val")
