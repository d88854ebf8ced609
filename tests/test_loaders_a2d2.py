from __future__ import annotations

import csv
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alseg.data import a2d2
from alseg.data.registry import create_dataset
from alseg.errors import ConfigError, DataError
from tests.fixtures_data import (
    A2D2_UNKNOWN_COLOR,
    a2d2_camera_path,
    a2d2_label_path,
    assert_loads,
    make_a2d2_tree,
    make_image,
    save_png,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")


def _unknown_pixels(written) -> int:
    return sum(int((w.raw_mask == A2D2_UNKNOWN_COLOR).all(axis=-1).sum()) for w in written)


@pytest.mark.parametrize("scheme", ["cityscapes", "paper"])
def test_full_size_loads_exactly_in_both_label_schemes(tmp_path: Path, scheme: str) -> None:
    written = make_a2d2_tree(tmp_path, label_scheme=scheme)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for split in ("train", "val"):
            assert_loads(create_dataset("a2d2", split, tmp_path, scale=1, label_scheme=scheme),
                         written[split])  # fmt: skip


def test_splits_meta_and_classes(tmp_path: Path) -> None:
    make_a2d2_tree(tmp_path)
    train = create_dataset("a2d2", "train", tmp_path)
    val = create_dataset("a2d2", "val", tmp_path)
    assert [(m.sequence, m.frame) for m in map(train.meta, range(len(train)))] == [
        ("20180807_145028/cam_front_center", 91),
        ("20180807_145028/cam_front_center", 92),
        ("20180807_145028/cam_front_center", 93),
        ("20181108_084007/cam_front_center", 38301),
    ]
    assert [(m.sequence, m.frame) for m in map(val.meta, range(len(val)))] == [
        ("20180925_112730/cam_front_center", 5)
    ]
    assert train.class_names[13] == "car" and len(train.class_colors) == 19
    paper = create_dataset("a2d2", "val", tmp_path, label_scheme="paper")
    assert len(paper.class_names) == 19 and paper.class_names[1] == "car"
    assert paper.class_colors[1] == (255, 0, 0)


def test_colours_decoded_as_rgb_not_bgr(tmp_path: Path) -> None:
    written = make_a2d2_tree(tmp_path, frames={"20180807_145028": (1,)}, unknown_color=None)
    label = written["train"][0].mask_path
    rgb = np.zeros((12, 18, 3), np.uint8)
    rgb[:, :9] = (0, 128, 255)  # Traffic signal 1; as BGR it would read as Truck 1 (255, 128, 0)
    rgb[:, 9:] = (128, 0, 255)  # Dashed line; as BGR it would read as Obstacles / trash
    save_png(label, rgb)
    mask = create_dataset("a2d2", "train", tmp_path, scale=1)[0].mask
    assert set(np.unique(mask[:, :9]).tolist()) == {6}
    assert set(np.unique(mask[:, 9:]).tolist()) == {0}


def test_unknown_colours_are_ignored_counted_and_reported(tmp_path: Path) -> None:
    written = make_a2d2_tree(tmp_path)["train"]
    ds = create_dataset("a2d2", "train", tmp_path, scale=1)
    assert ds.report() == "a2d2: no unknown label colours"
    with pytest.warns(UserWarning, match=r"colour \(1, 2, 3\) is not an A2D2 class colour"):
        ds[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a colour already seen warns only once
        for i in range(1, len(ds)):
            ds[i]
    assert ds.unknown_colors.total() == _unknown_pixels(written) > 0
    assert ds.unknown_colors.counts() == {A2D2_UNKNOWN_COLOR: _unknown_pixels(written)}
    assert f"{_unknown_pixels(written)} pixels with 1 unknown label colours" in ds.report()
    hex_color = "#{:02x}{:02x}{:02x}".format(*A2D2_UNKNOWN_COLOR)
    assert ds.notes()["unknown_label_colors"] == {hex_color: _unknown_pixels(written)}


def test_default_third_scale_resizes_image_and_label(tmp_path: Path) -> None:
    written = make_a2d2_tree(tmp_path, size=(12, 18), unknown_color=None)["val"][0]
    sample = create_dataset("a2d2", "val", tmp_path)[0]
    assert sample.image.shape == (4, 6, 3) and sample.mask.shape == (4, 6)
    nearest = Image.fromarray(written.expected.astype(np.uint8)).resize(
        (6, 4), Image.Resampling.NEAREST
    )
    np.testing.assert_array_equal(sample.mask, np.asarray(nearest))
    area = written.image.reshape(4, 3, 6, 3, 3).mean(axis=(1, 3))
    assert np.abs(sample.image.astype(float) - area).mean() < 12


def test_scaled_size_rounds_like_the_real_frame() -> None:
    assert a2d2.scaled_size(1920, 1208, 1 / 3) == (640, 403)
    assert a2d2.scaled_size(2, 2, 0.1) == (1, 1)


def test_other_view(tmp_path: Path) -> None:
    written = make_a2d2_tree(tmp_path, view="side_left")
    ds = create_dataset("a2d2", "val", tmp_path, view="side_left", scale=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_loads(ds, written["val"])
    assert "cam_side_left/20180925112730_camera_sideleft_000000005.png" in ds.meta(0).path
    with pytest.raises(DataError, match="no a2d2 samples found in .*cam_front_center"):
        create_dataset("a2d2", "val", tmp_path)


def test_list_file_keeps_order_and_duplicates(tmp_path: Path) -> None:
    make_a2d2_tree(tmp_path)
    rel = [
        "20181108_084007/camera/cam_front_center/20181108084007_camera_frontcenter_000038301.png",
        "20180807_145028/camera/cam_front_center/20180807145028_camera_frontcenter_000000092.png",
    ]
    (tmp_path / "pool.txt").write_text("\n".join([*rel, rel[0]]))
    ds = create_dataset("a2d2", "train", tmp_path, list_file=tmp_path / "pool.txt")
    assert [(ds.meta(i).sequence, ds.meta(i).frame) for i in range(len(ds))] == [
        ("20181108_084007/cam_front_center", 38301),
        ("20180807_145028/cam_front_center", 92),
    ]  # the repeated entry is read once
    assert ds.pairs[1].mask == a2d2_label_path(tmp_path, "20180807_145028", 92)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../x/camera/cam_front_center/x_camera_frontcenter_000000001.png", "inside the data root"),
        ("/abs/camera/cam_front_center/x_camera_frontcenter_000000001.png", "inside the data root"),
        ("seq/label/cam_front_center/x_label_frontcenter_000000001.png", "not an A2D2 camera"),
        ("seq/camera/cam_front_center/x_camera_frontcenter_1.png", "9-digit frame number"),
    ],
)
def test_bad_list_entries(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "bad.txt").write_text(entry)
    with pytest.raises(DataError, match=message):
        create_dataset("a2d2", "train", tmp_path, list_file=tmp_path / "bad.txt")


@needs_shared
def test_official_pool_lists_map_camera_to_label_paths(tmp_path: Path) -> None:
    pool = SHARED / "a2d2_pools" / "pool_11f"
    ds = create_dataset("a2d2", "train", tmp_path, list_file=pool / "lab_images_100.txt")
    labels = list(dict.fromkeys((pool / "lab_labels_100.txt").read_text().split()))
    assert len(ds) == len(labels) == 2407  # 2640 lines, the first 10% block repeated later
    assert [p.mask for p in ds.pairs] == [tmp_path / line for line in labels]
    assert ds.meta(0).frame == int(labels[0][-13:-4])


@needs_shared
def test_encoded_table_equals_shared_class_list() -> None:
    lines = (SHARED / "a2d2_classes.csv").read_text().splitlines()
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))[1:]
    expected = [(name, int(hexcode, 16), int(cs), int(pid)) for name, hexcode, cs, pid in rows]
    assert list(a2d2.A2D2_COLORS) == expected


def test_lazy_construction_and_broken_files(tmp_path: Path, monkeypatch) -> None:
    written = make_a2d2_tree(tmp_path, unknown_color=None)["train"]
    written[0].image_path.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    written[1].mask_path.unlink()
    save_png(written[2].mask_path, np.full((5, 5, 3), (255, 0, 0), np.uint8))
    save_png(written[3].mask_path, np.zeros((12, 18), np.uint8))

    def no_open(*args, **kwargs):
        raise AssertionError("constructor opened an image")

    monkeypatch.setattr("alseg.data.imageio.Image.open", no_open)
    ds = create_dataset("a2d2", "train", tmp_path, scale=1)
    monkeypatch.undo()
    with pytest.raises(DataError, match=rf"{written[0].image_path.name}: cannot read image"):
        ds[0]
    with pytest.raises(DataError, match=rf"{written[1].mask_path.name}: file not found"):
        ds[1]
    with pytest.raises(DataError, match="mask size 5x5 differs from image size 18x12"):
        ds[2]
    with pytest.raises(DataError, match="mode L is not a colour image"):
        ds[3]


def test_picklable_for_dataloader_workers(tmp_path: Path) -> None:
    written = make_a2d2_tree(tmp_path, unknown_color=None)["val"]
    ds = pickle.loads(pickle.dumps(create_dataset("a2d2", "val", tmp_path, scale=1)))
    assert_loads(ds, written)


def test_empty_root_and_bad_options(tmp_path: Path) -> None:
    cam = a2d2_camera_path(tmp_path, "20180807_145028", 1)
    save_png(cam, make_image(np.random.default_rng(0), (4, 4)))
    with pytest.raises(DataError, match=r"no a2d2 samples found in .*20180925_112730/camera"):
        create_dataset("a2d2", "val", tmp_path)
    with pytest.raises(ConfigError, match="label_scheme 'bgr'"):
        create_dataset("a2d2", "val", tmp_path, label_scheme="bgr")
    with pytest.raises(ConfigError, match="scale must lie in"):
        create_dataset("a2d2", "val", tmp_path, scale=0)
    with pytest.raises(ConfigError, match="view '../x'"):
        create_dataset("a2d2", "val", tmp_path, view="../x")


def test_item14_unknown_colours_met_in_dataloader_workers_are_counted(tmp_path: Path) -> None:
    from alseg.data.transforms import eval_batches

    written = make_a2d2_tree(tmp_path)["train"]
    ds = create_dataset("a2d2", "train", tmp_path, scale=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        list(eval_batches(ds, np.arange(len(ds)), batch_size=1, workers=2))
    assert ds.unknown_colors.total() == _unknown_pixels(written) > 0  # not lost with the workers


def test_item14_data_stats_report_unknown_colours(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.cli_helpers import alseg_in_process

    written = make_a2d2_tree(tmp_path / "a2d2")["train"]
    args = ("data", "stats", "--dataset", "a2d2", "--data-root", str(tmp_path / "a2d2"), "--json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = alseg_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    notes = json.loads(done.stdout)["data_notes"]  # counted on the masks at the 1/3 resize
    assert 0 < notes["unknown_label_pixels"] <= _unknown_pixels(written)
    assert list(notes["unknown_label_colors"]) == [
        "#{:02x}{:02x}{:02x}".format(*A2D2_UNKNOWN_COLOR)
    ]
