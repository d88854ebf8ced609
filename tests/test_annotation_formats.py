"""Annotation-tool formats without a server: Label Studio's brush RLE, its JSON exports read
back (regions, polygons, overlaps, which annotation), CVAT exports read by label name."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alseg.annotation.brush import decode_mask, decode_words, encode_mask
from alseg.annotation.labelstudio import image_stem, polygon_mask, prediction
from alseg.errors import DataError
from alseg.project import Project, import_masks, init_project
from tests.fixtures_data import FOLDER_CLASSES, make_folder_tree, save_png

SIZE = (12, 16)  # H x W
STEMS = ["drive_000000", "drive_000001", "lane_000000"]
NAMES = tuple(c["name"] for c in FOLDER_CLASSES)  # road, car, person
IDS = np.asarray([c["id"] for c in FOLDER_CLASSES] + [255], dtype=np.uint8)


# --- brush RLE -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_brush_rle_round_trips(mask):
    height, width = mask.shape
    np.testing.assert_array_equal(decode_mask(encode_mask(mask), height, width, "x"), mask)


def test_brush_rle_long_runs_and_label_studio_bytes():
    big = np.zeros((300, 400), dtype=bool)  # runs longer than the 16-bit field
    big[100:] = True
    np.testing.assert_array_equal(decode_mask(encode_mask(big), 300, 400, "x"), big)
    # bytes written by Label Studio's own encoder (label_studio_sdk mask2rle) for two masks
    small = [0, 0, 0, 60, 57, 27, 254, 23, 0, 183, 255, 132, 192, 35, 255, 0]
    expected = np.zeros((3, 5), dtype=bool)
    expected[1, 1:4] = expected[2, 4] = True
    np.testing.assert_array_equal(decode_mask(small, 3, 5, "x"), expected)
    block = [0, 0, 9, 96, 57, 27, 255, 2, 99, 0, 203, 255, 248, 92, 3, 47, 255, 225, 112, 12]
    block += [191, 255, 133, 192, 50, 255, 254, 23, 0, 203, 255, 248, 92, 3, 47, 255, 225, 112]
    block += [12, 191, 255, 133, 192, 50, 255, 254, 23, 0, 203, 255, 248, 92, 3, 47, 255, 240]
    block += [38, 48, 0]
    expected = np.zeros((20, 30), dtype=bool)
    expected[5:15, 3:27] = True
    np.testing.assert_array_equal(decode_mask(block, 20, 30, "x"), expected)
    assert decode_words(encode_mask(expected), "x").size == 20 * 30 * 4


@pytest.mark.parametrize(
    ("rle", "message"),
    [([], "not a list of bytes"), ([0, 0, 0, 60, 57, 27, 254], "ends inside"), ([300] * 8, "")],
)
def test_bad_brush_rle_is_one_data_error(rle, message):
    with pytest.raises(DataError, match=f"task 3: not a valid Label Studio brush RLE.*{message}"):
        decode_mask(rle, 3, 5, "task 3")
    with pytest.raises(DataError, match=r"holds 60 values, not 4 x 5 x 4"):
        decode_mask(encode_mask(np.ones((3, 5), dtype=bool)), 4, 5, "task 3")


def test_polygon_pixels_are_those_whose_centre_is_inside():
    square = polygon_mask([[25, 25], [75, 25], [75, 50], [25, 50]], 12, 16, "x")
    expected = np.zeros((12, 16), dtype=bool)
    expected[3:6, 4:12] = True  # y 3..6 (25..50% of 12), x 4..12 (25..75% of 16)
    np.testing.assert_array_equal(square, expected)
    triangle = polygon_mask([[0, 0], [110, 0], [0, 110]], 4, 4, "x")  # x + y < 4.4 pixels
    np.testing.assert_array_equal(triangle, np.add.outer(range(4), range(4)) + 1 < 4.4)
    with pytest.raises(DataError, match="at least 3"):
        polygon_mask([[0, 0], [1, 1]], 4, 4, "x")


def test_image_urls_map_back_to_stems():
    stems = {"drive_000001", "a b"}
    assert image_stem("/data/local-files/?d=images/drive_000001.png", stems) == "drive_000001"
    assert image_stem("/data/local-files/?d=images%2Fa%20b.jpg", stems) == "a b"
    assert image_stem("/data/upload/3/1a2b3c4d-drive_000001.png", stems) == "drive_000001"
    assert image_stem("s3://bucket/x/drive_000001.png?X-Amz=1", stems) == "drive_000001"
    assert image_stem("/data/upload/3/1a2b3c4d-other.png", stems) == "1a2b3c4d-other"


# --- Label Studio exports into a project ------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    make_folder_tree(data, stems={"train": STEMS}, unlabeled=STEMS, size=SIZE)
    init_project(tmp_path / "proj", data / "images", data / "classes.yaml")
    return tmp_path / "proj"


def brush(mask: np.ndarray, label: str, size: tuple[int, int] = SIZE) -> dict:
    return {
        "from_name": "brush",
        "to_name": "image",
        "type": "brushlabels",
        "original_height": size[0],
        "original_width": size[1],
        "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]},
    }


def task(stem: str, *annotations: dict, number: int = 1) -> dict:
    url = f"/data/local-files/?d=images/{stem}.png"
    return {"id": number, "data": {"image": url}, "annotations": list(annotations)}


def annotation(results: list, updated: str = "2026-01-01T00:00:00Z", **extra) -> dict:
    return {"id": 1, "result": results, "updated_at": updated, "was_cancelled": False, **extra}


def label_indices(project: Path, stem: str) -> np.ndarray:
    return Project.load(project).codec().decode(Project.load(project).label_path(stem))


def test_label_studio_export_imports_regions_in_order(project, tmp_path):
    top = np.zeros(SIZE, dtype=bool)
    top[:6] = True
    left = np.zeros(SIZE, dtype=bool)
    left[:, :5] = True
    polygon = {
        "from_name": "polygon",
        "to_name": "image",
        "type": "polygonlabels",
        "original_height": SIZE[0],
        "original_width": SIZE[1],
        "value": {"points": [[50, 50], [100, 50], [100, 100], [50, 100]], "polygonlabels": ["car"]},
    }
    note = {"from_name": "comment", "to_name": "image", "type": "textarea", "value": {}}
    old = annotation([brush(np.ones(SIZE, bool), "person")], "2025-01-01T00:00:00Z")
    latest = annotation([brush(top, "road"), brush(left, "person"), polygon, note])
    skipped = annotation([brush(np.ones(SIZE, bool), "car")], "2027-01-01T00:00:00Z")
    skipped["was_cancelled"] = True
    truth = annotation([brush(top, "car")], "2020-01-01T00:00:00Z", ground_truth=True)
    export = [
        task("drive_000000", old, latest, skipped, number=7),
        task("drive_000001", old, truth, number=8),
        {**task("lane_000000", number=9), "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    result = import_masks(project, path)
    assert sorted(result.imported) == ["drive_000000", "drive_000001"]
    assert result.not_annotated == ["lane_000000"] and result.skipped == []
    expected = np.full(SIZE, 255)
    expected[:6] = 0  # road
    expected[:, :5] = 2  # person painted after road
    expected[6:, 8:] = 1  # car polygon last
    np.testing.assert_array_equal(label_indices(project, "drive_000000"), expected)
    expected = np.full(SIZE, 255)
    expected[:6] = 1  # the ground-truth annotation wins over a later one
    np.testing.assert_array_equal(label_indices(project, "drive_000001"), expected)


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ({"brushlabels": ["tree"]}, r"label 'tree' is not a class of the project \(allowed: road"),
        ({"brushlabels": ["road", "car"]}, "exactly one label"),
        ({"size": (12, 15)}, r"size 12 x 15 \(H x W\) differs from its image drive_000001.png"),
        ({"type": "rectanglelabels"}, "rectanglelabels regions are not read"),
        ({"rotation": 90}, "rotated regions"),
    ],
)
def test_a_bad_label_studio_task_imports_nothing(project, tmp_path, region, message):
    good = task("drive_000000", annotation([brush(np.ones(SIZE, bool), "road")]))
    size = region.get("size", SIZE)
    bad_region = brush(np.ones(size, bool), "road", size)
    bad_region["value"].update({k: v for k, v in region.items() if k in ("brushlabels",)})
    if "type" in region:
        bad_region["type"] = region["type"]
    if "rotation" in region:
        bad_region["value"]["rotation"] = region["rotation"]
    bad = task("drive_000001", annotation([bad_region]), number=42)
    path = tmp_path / "export.json"
    path.write_text(json.dumps([good, bad]))
    before = (project / "alseg-project.json").read_bytes()
    with pytest.raises(DataError) as caught:
        import_masks(project, path)
    text = str(caught.value)
    assert f"{path}: task 42 (drive_000001.png)" in text and text.endswith("; nothing imported")
    assert len(text.splitlines()) == 1
    assert re.search(message, text), text
    assert (project / "alseg-project.json").read_bytes() == before
    assert not any((project / "labels").iterdir())


def test_not_a_label_studio_export(project, tmp_path):
    path = tmp_path / "min.json"
    path.write_text(json.dumps([{"image": "x.png", "brush": []}]))
    with pytest.raises(DataError, match="not a Label Studio JSON export .*not JSON-MIN"):
        import_masks(project, path)


def test_prediction_regions_cover_each_class():
    indices = np.full(SIZE, 255)
    indices[:4] = 1
    indices[4:] = 2
    made = prediction(indices, NAMES, 0.75, "alseg round 2")
    assert made["model_version"] == "alseg round 2" and made["score"] == 0.75
    assert [r["value"]["brushlabels"] for r in made["result"]] == [["car"], ["person"]]
    for region in made["result"]:
        assert (region["original_height"], region["original_width"]) == SIZE
        painted = decode_mask(region["value"]["rle"], *SIZE, "x")
        np.testing.assert_array_equal(
            painted, indices == NAMES.index(region["value"]["brushlabels"][0])
        )


# --- CVAT exports by label name ----------------------------------------------------------------


def cvat_zip(path: Path, labelmap: str, masks: dict[str, np.ndarray]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("labelmap.txt", labelmap)
        for stem, rgb in masks.items():
            png = save_png(path.parent / "tmp" / f"{stem}.png", rgb)
            bundle.write(png, f"SegmentationClass/{stem}.png")
    return path


def test_cvat_colours_that_differ_from_the_project_import_by_name(project, tmp_path):
    # CVAT gave its own colours to the labels (and lists them in another order)
    labelmap = (
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\nperson:1,2,3::\n"
        "road:10,20,30::\ncar:200,100,50::\n"
    )
    rgb = np.zeros((*SIZE, 3), dtype=np.uint8)  # background: unlabelled
    rgb[:4] = (10, 20, 30)
    rgb[4:8] = (200, 100, 50)
    rgb[8:10, :4] = (1, 2, 3)
    archive = cvat_zip(tmp_path / "export.zip", labelmap, {"drive_000001": rgb})
    assert import_masks(project, archive).imported == ["drive_000001"]
    expected = np.full(SIZE, 255)
    expected[:4], expected[4:8], expected[8:10, :4] = 0, 1, 2
    np.testing.assert_array_equal(label_indices(project, "drive_000001"), expected)


def test_cvat_errors_name_the_real_file_and_label(project, tmp_path):
    labelmap = "background:0,0,0::\nroad:10,20,30::\ntree:5,5,5::\n"
    rgb = np.zeros((*SIZE, 3), dtype=np.uint8)
    rgb[:2] = (5, 5, 5)
    archive = cvat_zip(tmp_path / "export.zip", labelmap, {"drive_000001": rgb})
    with pytest.raises(DataError) as caught:
        import_masks(project, archive)
    text = str(caught.value)
    assert text.startswith(f"{archive}:SegmentationClass/drive_000001.png: labels ['tree'] are")
    assert "not classes of the project (classes: road, car, person)" in text
    rgb[:2] = (9, 9, 9)
    archive = cvat_zip(tmp_path / "other.zip", labelmap, {"drive_000001": rgb})
    with pytest.raises(DataError) as caught:
        import_masks(project, archive)
    text = str(caught.value)
    assert f"{archive}:SegmentationClass/drive_000001.png: colours [[9, 9, 9]]" in text
    assert f"{archive}:labelmap.txt (allowed: background [0, 0, 0], road [10, 20, 30]" in text
    rgb[:] = FOLDER_CLASSES[0]["color"]
    save_png(tmp_path / "small" / "SegmentationClass" / "drive_000001.png", rgb[:10])
    with pytest.raises(
        DataError,
        match=r"size 10 x 16 \(H x W\) differs from its image "
        r"drive_000001.png \(12 x 16\)",
    ):
        import_masks(project, tmp_path / "small")
