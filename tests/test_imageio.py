from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from alseg.data.imageio import (
    ColorTable,
    list_files,
    pack_rgb,
    read_color_mask,
    read_index_mask,
    read_list_file,
    read_rgb,
    resolve_inside,
    unknown_colors,
)
from alseg.errors import DataError
from tests.fixtures_data import save_png, voc_colormap

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
INDICES = RNG.integers(0, 21, size=(5, 7), dtype=np.uint8)


def test_read_rgb_png_modes(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_rgb(save_png(tmp_path / "rgb.png", RGB)), RGB)
    gray = read_rgb(save_png(tmp_path / "gray.png", INDICES))
    np.testing.assert_array_equal(gray, np.repeat(INDICES[..., None], 3, axis=2))
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert read_rgb(tmp_path / "rgba.png").shape == (5, 7, 3)


def test_read_rgb_jpeg_matches_pil_decoding(tmp_path: Path) -> None:
    Image.fromarray(RGB).save(tmp_path / "a.jpg", quality=90)
    image = read_rgb(tmp_path / "a.jpg")
    assert image.dtype == np.uint8 and image.shape == (5, 7, 3)
    with Image.open(tmp_path / "a.jpg") as img:
        np.testing.assert_array_equal(image, np.asarray(img))


def test_palette_png_is_read_as_indices_not_colours(tmp_path: Path) -> None:
    path = save_png(tmp_path / "p.png", INDICES, palette=voc_colormap())
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(read_index_mask(path), INDICES)


def test_grayscale_and_16bit_index_masks(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_index_mask(save_png(tmp_path / "l.png", INDICES)), INDICES)
    wide = INDICES.astype(np.uint16) * 1000
    mask = read_index_mask(save_png(tmp_path / "w.png", wide))
    np.testing.assert_array_equal(mask.astype(np.int64), wide.astype(np.int64))


def test_rgb_mask_rejected_as_index_mask(tmp_path: Path) -> None:
    path = save_png(tmp_path / "rgb.png", RGB)
    with pytest.raises(DataError, match=r"rgb\.png.*mode RGB"):
        read_index_mask(path)


def test_color_mask_modes(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_color_mask(save_png(tmp_path / "c.png", RGB)), RGB)
    Image.fromarray(np.dstack([RGB, np.zeros(RGB.shape[:2], np.uint8)])).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_color_mask(tmp_path / "a.png"), RGB)
    with pytest.raises(DataError, match=r"l\.png.*mode L"):
        read_color_mask(save_png(tmp_path / "l.png", INDICES))


@pytest.mark.parametrize("reader", [read_rgb, read_index_mask, read_color_mask])
def test_missing_corrupt_and_truncated_files_name_the_file(tmp_path: Path, reader) -> None:
    with pytest.raises(DataError, match=r"missing\.png: file not found"):
        reader(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(DataError, match=r"junk\.png: cannot read image"):
        reader(tmp_path / "junk.png")
    big = RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    data = save_png(tmp_path / "full.png", big).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: cannot read image"):
        reader(tmp_path / "cut.png")
    with pytest.raises(DataError, match="cannot read image"):
        reader(tmp_path)  # a folder


@given(arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3))))
def test_pack_rgb_matches_naive_formula(rgb: np.ndarray) -> None:
    naive = [[int(r) * 65536 + int(g) * 256 + int(b) for r, g, b in row] for row in rgb]
    np.testing.assert_array_equal(pack_rgb(rgb), np.array(naive))


@given(
    st.lists(st.tuples(*[st.integers(0, 3)] * 3), min_size=1, max_size=20, unique=True),
    arrays(np.uint8, (4, 5, 3), elements=st.integers(0, 3)),
)
def test_color_table_matches_dict_lookup(table_colors, rgb: np.ndarray) -> None:
    ids = list(range(len(table_colors)))
    lookup = dict(zip(table_colors, ids, strict=True))
    decoded, unknown = ColorTable(table_colors, ids).decode(rgb)
    keys = [[tuple(int(v) for v in px) for px in row] for row in rgb]
    np.testing.assert_array_equal(decoded, [[lookup.get(k, 255) for k in row] for row in keys])
    np.testing.assert_array_equal(unknown, [[k not in lookup for k in row] for row in keys])
    counts = Counter(k for row in keys for k in row if k not in lookup)
    assert unknown_colors(rgb, unknown) == dict(counts)


@pytest.mark.parametrize(
    ("entry", "inside"),
    [("a/b.png", "a/b.png"), ("./a.png", "a.png"), ("a/../b.png", "b.png"), (" a.png\n", "a.png")],
)
def test_resolve_inside_accepts_paths_within_root(tmp_path: Path, entry: str, inside: str) -> None:
    assert resolve_inside(tmp_path, entry) == tmp_path / inside


@pytest.mark.parametrize("entry", ["../a.png", "a/../../b.png", "/etc/passwd", "", "..", "..\\x"])
def test_resolve_inside_rejects_escaping_entries(tmp_path: Path, entry: str) -> None:
    with pytest.raises(DataError, match="not a path inside the data root"):
        resolve_inside(tmp_path, entry)


def test_read_list_file(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("a\n\n  b  \nc")
    assert read_list_file(tmp_path / "l.txt") == ["a", "b", "c"]
    with pytest.raises(DataError, match=r"nope\.txt: list file not found"):
        read_list_file(tmp_path / "nope.txt")


def test_list_files_sorted_filtered_and_missing_folder(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "c.txt", "d.jpeg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "e.png").mkdir()
    assert [p.name for p in list_files(tmp_path)] == ["a.JPG", "b.png", "d.jpeg"]
    assert [p.name for p in list_files(tmp_path, (".png",))] == ["b.png"]
    with pytest.raises(DataError, match="nowhere"):
        list_files(tmp_path / "nowhere")


def test_item09_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "scan.png"
    Image.fromarray(values).save(path)  # PIL writes mode I;16
    assert Image.open(path).mode.startswith("I")
    rgb = read_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255] and (rgb[..., 0] == rgb[..., 2]).all()
