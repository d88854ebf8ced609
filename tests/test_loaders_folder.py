from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from alseg.data import folder
from alseg.data.registry import create_dataset
from alseg.errors import ConfigError, DataError
from tests.fixtures_data import assert_loads, make_folder_tree, save_png


@pytest.mark.parametrize("kind", ["index", "palette"])
def test_index_and_palette_masks_with_noncontiguous_ids(tmp_path: Path, kind: str) -> None:
    written = make_folder_tree(tmp_path, mask_kind=kind)
    for split in ("train", "val"):
        assert_loads(create_dataset("folder", split, tmp_path), written[split])
    ds = create_dataset("folder", "train", tmp_path)
    assert ds.class_names == ("road", "car", "person")
    assert ds.class_colors == ((128, 64, 128), (0, 0, 142), (220, 20, 60))
    # raw id 7 (car) loads as 1, raw id 3 (person) as 2
    raw, mask = written["train"][0].raw_mask, ds[0].mask
    assert set(mask[raw == 7].tolist()) == {1} and set(mask[raw == 3].tolist()) == {2}


def test_colour_masks_with_and_without_ignore_colour(tmp_path: Path) -> None:
    written = make_folder_tree(tmp_path / "a", mask_kind="color", ignore_color=(0, 0, 0))
    assert (written["train"][0].expected == 255).any()
    assert_loads(create_dataset("folder", "train", tmp_path / "a"), written["train"])
    written = make_folder_tree(tmp_path / "b", mask_kind="color", image_ext=".jpg")
    assert_loads(create_dataset("folder", "val", tmp_path / "b"), written["val"])


def test_unlabeled_images_and_meta(tmp_path: Path) -> None:
    make_folder_tree(tmp_path)
    ds = create_dataset("folder", "train", tmp_path)
    metas = [(ds.meta(i).sequence, ds.meta(i).frame, ds.has_mask(i)) for i in range(len(ds))]
    assert metas == [("drive", 10, True), ("drive", 11, True), ("solo", 0, False)]
    assert (ds[2].mask == 255).all() and ds[2].mask.shape == (8, 10)


def test_unknown_colour_names_file_and_colour(tmp_path: Path) -> None:
    written = make_folder_tree(tmp_path, mask_kind="color")
    rgb = written["val"][0].raw_mask.copy()
    rgb[0, 0] = (9, 9, 9)
    save_png(written["val"][0].mask_path, rgb)
    with pytest.raises(DataError, match=r"drive_000020\.png: colours \[\(9, 9, 9\)\] are not in"):
        create_dataset("folder", "val", tmp_path)[0]


@pytest.mark.parametrize("bad_id", [5, 254, 256])
def test_index_not_in_classes_yaml(tmp_path: Path, bad_id: int) -> None:
    written = make_folder_tree(tmp_path)
    raw = written["val"][0].raw_mask.astype(np.uint16 if bad_id > 255 else np.uint8)
    raw[0, 0] = bad_id
    save_png(written["val"][0].mask_path, raw)
    with pytest.raises(DataError, match=rf"ids \[{bad_id}\] are not in classes\.yaml"):
        create_dataset("folder", "val", tmp_path)[0]


def test_16bit_class_ids(tmp_path: Path) -> None:
    classes = (
        {"name": "a", "id": 1000, "color": [1, 1, 1]},
        {"name": "b", "id": 2, "color": [2, 2, 2]},
    )
    written = make_folder_tree(tmp_path, classes=classes)
    assert written["train"][0].raw_mask.dtype == np.uint16
    assert_loads(create_dataset("folder", "train", tmp_path), written["train"])


def test_lazy_broken_and_mismatched_files(tmp_path: Path) -> None:
    written = make_folder_tree(tmp_path)["train"]
    written[0].image_path.write_bytes(b"junk")
    save_png(written[1].mask_path, np.zeros((8, 9), np.uint8))
    ds = create_dataset("folder", "train", tmp_path)
    with pytest.raises(DataError, match=r"drive_000010\.png: cannot read image"):
        ds[0]
    with pytest.raises(DataError, match="mask size 9x8 differs from image size 10x8"):
        ds[1]


def test_orphan_masks_duplicate_stems_and_missing_folders(tmp_path: Path) -> None:
    written = make_folder_tree(tmp_path, stems={"train": ("a_1",)}, unlabeled=())
    save_png(tmp_path / "masks" / "b_2.png", written["train"][0].raw_mask)
    with pytest.raises(DataError, match=r"b_2\.png: mask without an image"):
        create_dataset("folder", "train", tmp_path)
    (tmp_path / "masks" / "b_2.png").unlink()
    (tmp_path / "images" / "a_1.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="a second image named 'a_1'"):
        create_dataset("folder", "train", tmp_path)
    with pytest.raises(DataError, match=r"val/images does not exist"):
        create_dataset("folder", "val", tmp_path)
    (tmp_path / "val" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no folder samples found in .*val/images"):
        create_dataset("folder", "val", tmp_path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "non-empty list"),
        ({"classes": "road"}, "non-empty list"),
        ([{"name": "a", "id": 0}], "exactly name, id and color"),
        ([{"name": "", "id": 0, "color": [0, 0, 0]}], "non-empty string"),
        ([{"name": "a", "id": 255, "color": [0, 0, 0]}], "other than 255"),
        ([{"name": "a", "id": -1, "color": [0, 0, 0]}], "integer 0..65535"),
        ([{"name": "a", "id": True, "color": [0, 0, 0]}], "integer 0..65535"),
        ([{"name": "a", "id": 0, "color": [0, 0, 256]}], "integers 0..255"),
        ([{"name": "a", "id": 0, "color": [0, 0]}], r"\[r, g, b\]"),
        ([{"name": "a", "id": 0, "color": [0, 0, 0]}, {"name": "a", "id": 1, "color": [1, 1, 1]}],
         "name 'a' is listed twice"),
        ([{"name": "a", "id": 0, "color": [0, 0, 0]}, {"name": "b", "id": 0, "color": [1, 1, 1]}],
         "id 0 is listed twice"),
        ([{"name": "a", "id": 0, "color": [0, 0, 0]}, {"name": "b", "id": 1, "color": [0, 0, 0]}],
         r"color \(0, 0, 0\) is listed twice"),
        ({"classes": [{"name": "a", "id": 0, "color": [5, 5, 5]}], "ignore_color": [5, 5, 5]},
         "also a class colour"),
    ],
)  # fmt: skip
def test_bad_classes_yaml(tmp_path: Path, doc, message: str) -> None:
    make_folder_tree(tmp_path)
    (tmp_path / "classes.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(DataError, match=rf"classes\.yaml: .*{message}"):
        create_dataset("folder", "train", tmp_path)


def test_missing_or_unparsable_classes_yaml(tmp_path: Path) -> None:
    make_folder_tree(tmp_path)
    (tmp_path / "classes.yaml").write_text("- {name: a, id: [")
    with pytest.raises(DataError, match=r"classes\.yaml: cannot read class list"):
        create_dataset("folder", "train", tmp_path)
    (tmp_path / "classes.yaml").unlink()
    with pytest.raises(DataError, match=r"classes\.yaml: class list not found"):
        create_dataset("folder", "train", tmp_path)


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown split"):
        folder.create("test", tmp_path)
