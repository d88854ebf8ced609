"""Preview contact sheets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alseg.data.base import IGNORE_INDEX
from alseg.data.preview import colorize, write_preview
from alseg.data.synthdrive import create as create_synthdrive
from alseg.errors import ConfigError


def test_colorize_uses_the_palette_and_black_for_ignore():
    palette = np.array([[10, 20, 30], [200, 100, 50]], dtype=np.uint8)
    mask = np.array([[0, 1], [IGNORE_INDEX, 7]])
    out = colorize(mask, palette)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(out[0, 1], [200, 100, 50])
    np.testing.assert_array_equal(out[1], [[0, 0, 0], [0, 0, 0]])


def test_write_preview_makes_a_png_grid(tmp_path):
    ds = create_synthdrive("train", num_drives=2, frames_per_drive=10)
    path = write_preview(ds, tmp_path / "sub" / "preview.png", count=5, seed=3)
    with Image.open(path) as image:
        assert image.format == "PNG"
        # 5 cells -> 3 columns x 2 rows; each cell is image + label, enlarged to 256 px wide.
        assert image.size == (3 * 256, 2 * (2 * 128 + 12))
        pixels = np.asarray(image.convert("RGB"))
    road = np.array(ds.class_colors[0])
    assert np.all(pixels == road, axis=-1).any()  # colour-coded labels are in it
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_write_preview_with_indices_and_bad_ones(tmp_path):
    ds = create_synthdrive("train", num_drives=1, frames_per_drive=4)
    path = write_preview(ds, tmp_path / "p.png", indices=[0, 3])
    with Image.open(path) as image:
        assert image.size == (2 * 256, 268)
    with pytest.raises(ConfigError, match="index 4 out of range"):
        write_preview(ds, tmp_path / "q.png", indices=[4])
    with pytest.raises(ConfigError, match="count 0"):
        write_preview(ds, tmp_path / "q.png", count=0)
