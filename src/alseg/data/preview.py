"""A PNG contact sheet of dataset samples: each image above its colour-coded label."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from alseg.data.base import IGNORE_INDEX, SegDataset
from alseg.errors import ConfigError
from alseg.io import atomic_write_bytes

CAPTION_HEIGHT = 12
MIN_CELL_WIDTH = 256  # small images are enlarged (nearest neighbour) to at least this width


def colorize(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """RGB uint8 image of a label mask; ignored and unknown ids are black."""
    lookup = np.zeros((256, 3), dtype=np.uint8)
    lookup[: len(palette)] = palette[:256]
    ids = np.where((mask >= 0) & (mask < len(palette)) & (mask != IGNORE_INDEX), mask, 255)
    lookup[255] = 0
    return lookup[ids.astype(np.int64)]


def _pick(dataset: SegDataset, count: int, seed: int, indices: Sequence[int] | None) -> list[int]:
    n = len(dataset)
    if indices is not None:
        picked = [int(i) for i in indices]
        bad = [i for i in picked if not 0 <= i < n]
        if bad:
            raise ConfigError(f"preview index {bad[0]} out of range 0..{n - 1} of {dataset.name}")
        return picked
    if count < 1:
        raise ConfigError(f"preview count {count} must be at least 1")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n, size=min(count, n), replace=False).tolist())


def write_preview(
    dataset: SegDataset,
    path: str | Path,
    count: int = 16,
    seed: int = 0,
    indices: Sequence[int] | None = None,
) -> Path:
    """Write a grid of ``count`` seeded random samples (or ``indices``) to the PNG ``path``."""
    picked = _pick(dataset, count, seed, indices)
    palette = dataset.palette()
    cells = []
    for index in picked:
        sample = dataset[index]
        pair = np.concatenate([sample.image, colorize(sample.mask, palette)], axis=0)
        scale = max(1, -(-MIN_CELL_WIDTH // pair.shape[1]))
        cell = Image.fromarray(pair).resize(
            (pair.shape[1] * scale, pair.shape[0] * scale), Image.NEAREST
        )
        cells.append((cell, f"{sample.meta.sequence} #{sample.meta.frame}"))
    columns = int(np.ceil(np.sqrt(len(cells))))
    rows = -(-len(cells) // columns)
    cell_w = max(c.width for c, _ in cells)
    cell_h = max(c.height for c, _ in cells) + CAPTION_HEIGHT
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (cell, caption) in enumerate(cells):
        x, y = (k % columns) * cell_w, (k // columns) * cell_h
        draw.text((x + 2, y), caption, fill=(0, 0, 0))
        sheet.paste(cell, (x, y + CAPTION_HEIGHT))
    path = Path(path)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path
