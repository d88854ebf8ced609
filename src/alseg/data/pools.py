"""Unlabeled pools with controlled redundancy (Pool-0f, Pool-Xf, Pool-Aug, official pool lists).

A pool is a ``PoolDataset``: a view over a base dataset whose entries are (base index,
augmentation seed or None, group id). Sequence and frame structure comes from ``meta(i)``: frames
are grouped by sequence and sorted by frame number; "consecutive" means adjacent in that order.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.imageio import read_list_file
from alseg.data.temporal import ranks_in, runs
from alseg.errors import ConfigError, DataError, unknown_name

POOL_KINDS = ("all", "random", "0f", "<X>f", "aug", "list:FILE")
#: Pool-Aug: each anchor is followed by this many augmented duplicates.
AUG_DUPLICATES = 5
#: Pool-Aug crop: this fraction of the image height *and* width (about 72% of the area).
AUG_CROP_SIDE = 0.85
#: Pool-Aug colour jitter: brightness, contrast and saturation factors in [1 - J, 1 + J].
AUG_JITTER = 0.25


@dataclass(frozen=True)
class PoolEntry:
    """One pool member: a base-dataset index, its Pool-Aug seed (None: unchanged) and group."""

    base_index: int
    aug_seed: int | None = None
    group: int = -1


class PoolDataset(SegDataset):
    """A pool: a view over ``base`` listing some of its frames, possibly augmented duplicates."""

    def __init__(self, base: SegDataset, entries: Sequence[PoolEntry], kind: str = "all") -> None:
        self.base = base
        self.entries = tuple(entries)
        self.kind = kind
        self.name = base.name
        self.class_names = base.class_names
        self.class_colors = base.class_colors
        for entry in self.entries:
            if not 0 <= entry.base_index < len(base):
                raise ValueError(f"base index {entry.base_index} outside {base.name} ({len(base)})")

    def __len__(self) -> int:
        return len(self.entries)

    def meta(self, index: int) -> FrameMeta:
        entry = self.entries[index]
        return dataclasses.replace(self.base.meta(entry.base_index), group=entry.group)

    def notes(self) -> dict[str, Any]:
        return self.base.notes()

    def load(self, index: int) -> Sample:
        entry = self.entries[index]
        sample = self.base.load(entry.base_index)
        image, mask = sample.image, sample.mask
        if entry.aug_seed is not None:
            image, mask = pool_aug(image, mask, entry.aug_seed)
        return Sample(image, mask, self.meta(index))


def pool_aug(image: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool-Aug duplicate: a random crop of ``AUG_CROP_SIDE`` of each side resized back to the
    original size (image bilinear, mask nearest), then brightness, contrast, saturation jitter."""
    rng = np.random.default_rng(seed)
    height, width = mask.shape
    crop_h, crop_w = max(1, round(AUG_CROP_SIDE * height)), max(1, round(AUG_CROP_SIDE * width))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    crop = Image.fromarray(image[top : top + crop_h, left : left + crop_w])
    resized = np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    rows = top + ((2 * np.arange(height) + 1) * crop_h) // (2 * height)  # nearest pixel centre
    cols = left + ((2 * np.arange(width) + 1) * crop_w) // (2 * width)
    new_mask = mask[rows[:, None], cols[None, :]]
    brightness, contrast, saturation = rng.uniform(1 - AUG_JITTER, 1 + AUG_JITTER, size=3)
    out = resized * brightness
    gray = out @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    out = gray.mean() + contrast * (out - gray.mean())
    gray = out @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    out = gray[..., None] + saturation * (out - gray[..., None])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), np.ascontiguousarray(new_mask)


def read_pool_list(path: str | Path, dedupe: bool = False) -> list[str]:
    """Relative paths of an official-style pool list (one per line; blank lines and a missing
    final newline are fine).

    With ``dedupe`` every path is kept once, at its first occurrence. The official 5f/11f/21f lists
    start with a 10% block (their initial labeled set) whose paths mostly reappear later; keeping
    the first occurrence keeps that block at the head and still keeps the block's paths that never
    reappear (24, 31 and 18 of them), so the result is exactly the set of distinct pool frames.
    """
    lines = read_list_file(Path(path))
    if not lines:
        raise DataError(f"{path}: pool list is empty")
    return list(dict.fromkeys(lines)) if dedupe else lines


def _normal_entry(entry: str, source: str) -> str:
    normal = posixpath.normpath(entry.strip().replace("\\", "/"))
    if normal.startswith("/") or normal == ".." or normal.startswith("../") or normal == ".":
        raise DataError(f"{source}: entry {entry!r} is not a relative path inside the data root")
    return normal


def pool_from_list(
    dataset: SegDataset, paths: Sequence[str], source: str = "pool list"
) -> PoolDataset:
    """The pool of ``dataset`` frames named by ``paths`` (relative paths, matched as suffixes of
    ``meta(i).path``), in list order; a path listed twice is two copies of its frame. Groups are
    the runs of frames adjacent in the dataset (copies share their frame's group)."""
    by_name: dict[str, list[tuple[str, int]]] = {}
    for i in range(len(dataset)):
        full = "/" + dataset.meta(i).path.replace("\\", "/").lstrip("/")
        by_name.setdefault(posixpath.basename(full), []).append((full, i))
    indices = []
    for entry in paths:
        normal = _normal_entry(entry, source)
        found = [
            i
            for full, i in by_name.get(posixpath.basename(normal), [])
            if full.endswith("/" + normal)
        ]
        if not found:
            raise DataError(f"{source}: entry {entry!r} not found in dataset {dataset.name}")
        if len(found) > 1:
            raise DataError(
                f"{source}: entry {entry!r} matches {len(found)} frames of {dataset.name}"
            )
        indices.append(found[0])
    groups = _adjacent_runs(dataset, indices)
    entries = [PoolEntry(i, None, g) for i, g in zip(indices, groups, strict=True)]
    return PoolDataset(dataset, entries, kind=f"list:{source}")


def _adjacent_runs(dataset: SegDataset, indices: Sequence[int]) -> list[int]:
    """Group id of each index: runs of frames adjacent in the dataset's per-sequence order."""
    all_meta = [dataset.meta(i) for i in range(len(dataset))]
    seqs = [all_meta[i].sequence for i in indices]
    ranks = ranks_in(
        seqs,
        [all_meta[i].frame for i in indices],
        [m.sequence for m in all_meta],
        [m.frame for m in all_meta],
    )
    groups = [0] * len(indices)
    for group, members in enumerate(runs(seqs, ranks.tolist(), gap=1)):
        for position in members:
            groups[int(position)] = group
    return groups


def _sequences_in_order(dataset: SegDataset) -> list[np.ndarray]:
    """Base indices of every sequence (name order), sorted by frame number."""
    metas = [dataset.meta(i) for i in range(len(dataset))]
    by_sequence: dict[str, list[int]] = {}
    for i, m in enumerate(metas):
        by_sequence.setdefault(m.sequence, []).append(i)
    return [
        np.asarray(sorted(idx, key=lambda i: metas[i].frame), dtype=np.int64)
        for _, idx in sorted(by_sequence.items())
    ]


def _place(length: int, sizes: Sequence[int], rng: np.random.Generator) -> list[int]:
    """Uniformly random non-overlapping start offsets of windows ``sizes`` (in that order) in a
    sequence of ``length`` frames (stars and bars over the free frames)."""
    slots = length - sum(sizes) + len(sizes)
    chosen = np.sort(rng.choice(slots, size=len(sizes), replace=False))
    starts, shift = [], 0
    for slot, size in zip(chosen, sizes, strict=True):
        starts.append(int(slot) + shift)
        shift += size - 1
    return starts


def _frame_groups(
    dataset: SegDataset, size: int, x: int, rng: np.random.Generator, kind: str
) -> list[PoolEntry]:
    """Pool-Xf entries: ``ceil(size / x)`` non-overlapping groups of ``x`` consecutive frames (the
    last one truncated to hit ``size``); groups in random order, frames of a group in time order."""
    sequences = _sequences_in_order(dataset)
    lengths = np.asarray([len(s) for s in sequences], dtype=np.int64)
    n_groups = math.ceil(size / x)
    last = size - (n_groups - 1) * x
    capacity = lengths // x
    available = int(capacity.sum()) * x + int((lengths % x).max())
    if size > available:
        raise ConfigError(
            f"pool {kind} of size {size} needs {n_groups} groups of {x} consecutive frames; "
            f"dataset {dataset.name} holds at most {available} frames in such groups"
        )
    if capacity.sum() >= n_groups:  # every group, the short last one included, takes a full slot
        slots = np.repeat(np.arange(len(sequences)), capacity)
        owner = rng.choice(slots, size=n_groups, replace=False)
    else:  # all full slots are used; the short group goes where the leftover frames fit it
        fits = np.flatnonzero(lengths % x >= last)
        owner = np.append(np.repeat(np.arange(len(sequences)), capacity), rng.choice(fits))
        owner = np.append(rng.permutation(owner[:-1]), owner[-1])
    sizes = [x] * (n_groups - 1) + [last]
    starts = np.zeros(n_groups, dtype=np.int64)
    for s in np.unique(owner):
        members = np.flatnonzero(owner == s)
        members = rng.permutation(members)
        starts[members] = _place(int(lengths[s]), [sizes[g] for g in members], rng)
    entries = []
    for group in range(n_groups):
        frames = sequences[owner[group]][starts[group] : starts[group] + sizes[group]]
        entries.extend(PoolEntry(int(i), None, group) for i in frames)
    return entries


def _aug_groups(dataset: SegDataset, size: int, rng: np.random.Generator) -> list[PoolEntry]:
    """Pool-Aug entries: random anchors, each followed by its augmented duplicates."""
    per_group = AUG_DUPLICATES + 1
    n_groups = math.ceil(size / per_group)
    anchors = rng.choice(len(dataset), size=n_groups, replace=False)
    entries = []
    for group, anchor in enumerate(anchors):
        seeds = rng.integers(0, 2**31 - 1, size=AUG_DUPLICATES)
        entries.append(PoolEntry(int(anchor), None, group))
        entries.extend(PoolEntry(int(anchor), int(s), group) for s in seeds)
    return entries[:size]


def _frames_per_group(kind: str) -> int | None:
    """X of a "{X}f" kind (1 for "random" and "0f"), None for other kinds."""
    if kind in ("random", "0f"):
        return 1
    match = re.fullmatch(r"([0-9]+)f", kind)
    if match and int(match[1]) >= 1:
        return int(match[1])
    return None


def check_pool_kind(kind: str) -> None:
    """ConfigError unless ``kind`` names a pool kind (a list file is checked when read)."""
    if (
        not kind.startswith("list:")
        and kind not in ("all", "aug")
        and _frames_per_group(kind) is None
    ):
        raise unknown_name("pool kind", kind, POOL_KINDS)


def build_pool(
    dataset: SegDataset, kind: str, size: int | None = None, seed: int = 0, dedupe: bool = False
) -> PoolDataset:
    """The pool ``kind`` of ``dataset`` with ``size`` entries (None: as many as the dataset has
    frames, or the list's length), deterministic per ``seed``.

    Kinds: "all" (the dataset in order), "random"/"0f" (single random frames, each its own group),
    "{X}f" (groups of X consecutive frames), "aug" (anchors with augmented duplicates) and
    "list:FILE" (an official-style pool list; see ``read_pool_list`` and ``pool_from_list``;
    ``dedupe`` keeps each listed frame once instead of every line).
    """
    if kind.startswith("list:"):
        path = kind[len("list:") :]
        pool = pool_from_list(dataset, read_pool_list(path, dedupe), source=path)
        if size is not None and size != len(pool):
            raise ConfigError(
                f"pool size {size} differs from the {len(pool)} frames listed in {path}"
            )
        return pool
    check_pool_kind(kind)
    x = _frames_per_group(kind)
    n = len(dataset)
    if kind == "all" and size is not None and size != n:
        raise ConfigError(f"pool 'all' is the whole dataset ({n} frames); leave the size unset")
    size = n if size is None else size
    if size > n:
        raise ConfigError(f"pool size {size} larger than dataset {dataset.name} with {n} frames")
    if size < 1:
        raise ConfigError(f"pool size must be at least 1, got {size}")
    if kind == "all":
        return PoolDataset(dataset, [PoolEntry(i) for i in range(n)], kind="all")
    rng = np.random.default_rng(seed)
    if kind == "aug":
        return PoolDataset(dataset, _aug_groups(dataset, size, rng), kind="aug")
    return PoolDataset(dataset, _frame_groups(dataset, size, x, rng, kind), kind=kind)
