from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alseg.data import camvid
from alseg.data.registry import create_dataset
from alseg.errors import ConfigError, DataError
from tests.fixtures_data import assert_loads, make_camvid_tree, save_png


@pytest.fixture
def tree(tmp_path: Path):
    return tmp_path, make_camvid_tree(tmp_path)


def test_loads_all_splits_exactly_with_unlabelled_ignored(tree) -> None:
    root, written = tree
    for split in ("train", "val"):
        assert_loads(create_dataset("camvid", split, root), written[split])
    assert_loads(camvid.create("test", root), written["test"])
    assert any((w.raw_mask == 11).any() for w in written["train"])
    ds = create_dataset("camvid", "train", root)
    assert ds.num_classes == 11 and ds.class_names[10] == "Bicyclist"
    assert 11 not in np.unique(ds[0].mask)


def test_class_ids_beyond_unlabelled_are_rejected(tree) -> None:
    root, _ = tree
    bad = np.full((9, 12), 3, np.uint8)
    bad[2, 2] = 12
    save_png(root / "valannot" / "0016E5_07959.png", bad)
    with pytest.raises(DataError, match=r"0016E5_07959\.png: class ids \[12\] outside 0\.\.10"):
        create_dataset("camvid", "val", root)[0]


def test_missing_corrupt_and_mismatched_files(tree) -> None:
    root, written = tree
    first, second, third = written["train"]
    first.mask_path.unlink()
    second.image_path.write_bytes(b"garbage")
    save_png(third.mask_path, np.zeros((3, 3), np.uint8))
    ds = create_dataset("camvid", "train", root)  # lazy: listing works
    with pytest.raises(DataError, match=r"trainannot/0001TP_006690\.png: file not found"):
        ds[0]
    with pytest.raises(DataError, match=r"train/0001TP_006720\.png: cannot read image"):
        ds[1]
    with pytest.raises(DataError, match="mask size 3x3 differs from image size 12x9"):
        ds[2]


def test_empty_or_missing_split(tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match=r"no camvid samples found in .*/val"):
        create_dataset("camvid", "val", tmp_path)
    with pytest.raises(DataError, match=r"/train does not exist"):
        create_dataset("camvid", "train", tmp_path)
    with pytest.raises(ConfigError, match="unknown split"):
        camvid.create("trainval", tmp_path)
