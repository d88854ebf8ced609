from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alseg.data import pascal_voc
from alseg.data.registry import create_dataset
from alseg.errors import ConfigError, DataError
from tests.fixtures_data import assert_loads, make_voc_tree, save_png, voc_colormap

SHARED_VOC = Path(__file__).resolve().parents[2] / "shared" / "data" / "pascal_voc"


@pytest.fixture
def tree(tmp_path: Path):
    return tmp_path, make_voc_tree(tmp_path)


def test_loads_jpeg_images_and_aug_masks_exactly(tree) -> None:
    root, written = tree
    for split in ("train", "val"):
        assert_loads(create_dataset("pascal_voc", split, root), written[split])
    ds = create_dataset("pascal_voc", "train", root)
    assert ds.meta(0).sequence == "2007_000032" and ds.meta(0).frame == 0
    assert ds.num_classes == 21 and ds.class_names[15] == "person"


def test_original_palette_masks_read_as_indices(tree) -> None:
    root, written = tree
    mask_path = root / "SegmentationClass" / "2007_000033.png"
    assert Image.open(mask_path).mode == "P"
    ds = create_dataset("pascal_voc", "val", root, masks="SegmentationClass")
    assert_loads(ds, written["val"])
    assert ds.pairs[0].mask == mask_path


def test_palette_is_the_voc_colour_map() -> None:
    palette = pascal_voc.voc_palette()
    assert palette[:4] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
    assert palette[15] == (192, 128, 128) and palette[20] == (0, 64, 128)
    assert palette[255] == (224, 224, 192)
    assert [c for rgb in palette for c in rgb] == voc_colormap()
    assert pascal_voc.PascalVOC.class_colors == palette[:21]


def test_list_file_option(tree, tmp_path: Path) -> None:
    root, written = tree
    (root / "ImageSets").rename(root / "moved")
    with pytest.raises(DataError, match=r"train_aug\.txt not found; .*list_file="):
        create_dataset("pascal_voc", "train", root)
    listing = tmp_path / "mine.txt"
    listing.write_text("2008_000008\n\n2007_000032\n")
    ds = create_dataset("pascal_voc", "train", root, list_file=listing)
    by_name = {w.sequence: w for w in written["train"]}
    assert_loads(ds, [by_name["2008_000008"], by_name["2007_000032"]])


def test_default_train_list_follows_mask_folder(tree) -> None:
    root, _ = tree
    lists = root / "ImageSets" / "Segmentation"
    (lists / "train.txt").write_text("2007_000039\n")
    assert len(create_dataset("pascal_voc", "train", root)) == 3
    assert len(create_dataset("pascal_voc", "train", root, masks="SegmentationClass")) == 1


@pytest.mark.parametrize("entry", ["../outside", "/etc/passwd", "a/../../b"])
def test_list_entries_escaping_root_are_rejected(tree, tmp_path: Path, entry: str) -> None:
    root, _ = tree
    (tmp_path / "bad.txt").write_text(f"2007_000032\n{entry}\n")
    with pytest.raises(DataError, match="not a path inside the data root"):
        create_dataset("pascal_voc", "train", root, list_file=tmp_path / "bad.txt")


def test_two_column_list_lines_are_rejected(tree, tmp_path: Path) -> None:
    root, _ = tree
    (tmp_path / "two.txt").write_text("/JPEGImages/a.jpg /SegmentationClassAug/a.png\n")
    with pytest.raises(DataError, match=r"two\.txt: expected one image name per line"):
        create_dataset("pascal_voc", "train", root, list_file=tmp_path / "two.txt")


def test_lazy_missing_and_corrupt_images(tree) -> None:
    root, written = tree
    (root / "JPEGImages" / "2007_000039.jpg").unlink()
    (root / "JPEGImages" / "2008_000008.jpg").write_bytes(b"\xff\xd8\xff garbage")
    ds = create_dataset("pascal_voc", "train", root)
    np.testing.assert_array_equal(ds[0].mask, written["train"][0].expected)
    with pytest.raises(DataError, match=r"2007_000039\.jpg: file not found"):
        ds[1]
    with pytest.raises(DataError, match=r"2008_000008\.jpg: cannot read image"):
        ds[2]


def test_class_ids_out_of_range(tree) -> None:
    root, _ = tree
    bad = np.zeros((10, 12), np.uint8)
    bad[0, :3] = (21, 100, 255)
    save_png(root / "SegmentationClassAug" / "2007_000033.png", bad)
    with pytest.raises(DataError, match=r"2007_000033\.png: class ids \[21, 100\] outside 0\.\.20"):
        create_dataset("pascal_voc", "val", root)[0]


def test_rgb_mask_and_size_mismatch(tree) -> None:
    root, _ = tree
    save_png(root / "SegmentationClassAug" / "2007_000033.png", np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(DataError, match="mode RGB is not a single-channel index image"):
        create_dataset("pascal_voc", "val", root)[0]
    save_png(root / "SegmentationClassAug" / "2007_000033.png", np.zeros((12, 10), np.uint8))
    with pytest.raises(DataError, match="differs from image size"):
        create_dataset("pascal_voc", "val", root)[0]


def test_empty_list_and_bad_options(tree, tmp_path: Path) -> None:
    root, _ = tree
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DataError, match=r"no pascal_voc samples found in .*empty\.txt"):
        create_dataset("pascal_voc", "val", root, list_file=tmp_path / "empty.txt")
    with pytest.raises(ConfigError, match="unknown masks 'Colors'"):
        create_dataset("pascal_voc", "val", root, masks="Colors")


@pytest.mark.skipif(not SHARED_VOC.is_dir(), reason="../shared/data/pascal_voc is absent")
def test_official_split_lists_construct_lazily(tmp_path: Path) -> None:
    (tmp_path / "JPEGImages").mkdir()
    train = create_dataset("pascal_voc", "train", tmp_path, list_file=SHARED_VOC / "train_aug.txt")
    val = create_dataset("pascal_voc", "val", tmp_path, list_file=SHARED_VOC / "val.txt")
    assert (len(train), len(val)) == (10582, 1449)
    assert train.meta(0).sequence == "2007_000032"
    with pytest.raises(DataError, match="file not found"):
        val[0]
