from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alseg.data import cityscapes
from alseg.data.registry import create_dataset
from alseg.errors import ConfigError, DataError
from tests.fixtures_data import (
    CITYSCAPES_TRAIN_IDS,
    assert_loads,
    make_cityscapes_tree,
    make_image,
    save_png,
)


@pytest.fixture
def tree(tmp_path: Path):
    return tmp_path, make_cityscapes_tree(tmp_path)


def test_loads_images_train_ids_and_meta_exactly(tree) -> None:
    root, written = tree
    for split in ("train", "val"):
        ds = create_dataset("cityscapes", split, root)
        assert_loads(ds, written[split])
    ds = create_dataset("cityscapes", "train", root)
    assert [(m.sequence, m.frame) for m in map(ds.meta, range(len(ds)))] == [
        ("aachen_000000", 19),
        ("aachen_000000", 20),
        ("bochum_000001", 5),
    ]
    assert ds.num_classes == 19 and len(ds.class_colors) == 19
    assert ds.class_names[0] == "road" and ds.class_names[18] == "bicycle"


def test_label_table_follows_spec() -> None:
    ignored = [*range(7), 9, 10, 14, 15, 16, 18, 29, 30, 255]
    for label_id in range(256):
        expected = CITYSCAPES_TRAIN_IDS.get(label_id, 255)
        assert cityscapes.LABEL_TO_TRAIN[label_id] == expected
    assert all(cityscapes.LABEL_TO_TRAIN[i] == 255 for i in ignored)


def test_constructor_opens_no_image(tree, monkeypatch) -> None:
    root, written = tree
    image = written["train"][0].image_path
    image.write_bytes(b"corrupt")

    def no_open(*args, **kwargs):
        raise AssertionError("constructor opened an image")

    monkeypatch.setattr("alseg.data.imageio.Image.open", no_open)
    ds = create_dataset("cityscapes", "train", root)
    assert ds.meta(0).path == str(image)
    monkeypatch.undo()
    with pytest.raises(DataError, match=rf"{image.name}: cannot read image"):
        ds[0]


def test_missing_label_file(tree) -> None:
    root, written = tree
    written["train"][1].mask_path.unlink()
    ds = create_dataset("cityscapes", "train", root)
    with pytest.raises(DataError, match=r"gtFine_labelIds\.png: file not found"):
        ds[1]


def test_label_size_differing_from_image(tree) -> None:
    root, written = tree
    save_png(written["val"][0].mask_path, np.full((4, 4), 7, np.uint8))
    with pytest.raises(DataError, match="mask size 4x4 differs from image size 16x8"):
        create_dataset("cityscapes", "val", root)[0]


def test_16bit_label_ids_beyond_255(tree) -> None:
    root, written = tree
    save_png(written["val"][0].mask_path, np.full((8, 16), 300, np.uint16))
    with pytest.raises(DataError, match=r"labelIds\.png: label ids must lie in 0\.\.255"):
        create_dataset("cityscapes", "val", root)[0]


def test_empty_split_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "leftImg8bit" / "val" / "lindau").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no cityscapes samples found in .*leftImg8bit/val"):
        create_dataset("cityscapes", "val", tmp_path)
    with pytest.raises(DataError, match=r"leftImg8bit/train does not exist"):
        create_dataset("cityscapes", "train", tmp_path)
    with pytest.raises(DataError, match="nowhere"):
        create_dataset("cityscapes", "train", tmp_path / "nowhere")


def test_files_not_following_the_naming_are_skipped(tree) -> None:
    root, _ = tree
    save_png(
        root / "leftImg8bit" / "val" / "frankfurt" / "notes_leftImg8bit.png",
        make_image(np.random.default_rng(0), (8, 16)),
    )
    assert len(create_dataset("cityscapes", "val", root)) == 1


def test_unknown_split() -> None:
    with pytest.raises(ConfigError, match="unknown split 'extra'"):
        cityscapes.create("extra", Path("."))
