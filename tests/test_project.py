from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from alseg.annotation import MaskCodec
from alseg.data.folder import ClassList
from alseg.errors import ConfigError, DataError
from alseg.project import (
    STATE_FILE,
    Project,
    default_working_size,
    import_masks,
    init_project,
    select,
    untrained_strategies,
)
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_folder_tree, save_png

torch.set_num_threads(1)

SIZE = (32, 32)
STEMS = [f"drive_{i:06d}" for i in range(10)] + [f"lane_{i:06d}" for i in range(6)] + ["solo"]
IDS = [c["id"] for c in FOLDER_CLASSES]  # road 0, car 7, person 3
COLORS = [tuple(c["color"]) for c in FOLDER_CLASSES]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_folder_tree(root, stems={"train": STEMS}, unlabeled=STEMS, size=SIZE)
    return root


def new_project(tmp_path: Path, data: Path, **options) -> Path:
    directory = tmp_path / "proj"
    init_project(
        directory,
        data / "images",
        data / "classes.yaml",
        min_iterations=2,
        epochs=0.1,
        batch_size=2,
        **options,
    )
    return directory


def write_masks(
    folder: Path, stems: list[str], kind: str = "color", seed: int = 0
) -> dict[str, np.ndarray]:
    """Masks for ``stems`` (every class in each); returns the class ids each must import as."""
    rng = np.random.default_rng(seed)
    expected = {}
    for stem in stems:
        indices = block_labels(rng, SIZE, range(3))
        if kind == "color":
            save_png(folder / f"{stem}.png", np.asarray(COLORS, dtype=np.uint8)[indices])
        else:
            save_png(folder / f"{stem}.png", np.asarray(IDS, dtype=np.uint8)[indices])
        expected[stem] = np.asarray(IDS, dtype=np.uint8)[indices]
    return expected


def label_ids(project: Path, stem: str) -> np.ndarray:
    with Image.open(Project.load(project).label_path(stem)) as img:
        assert img.mode == "L"
        return np.asarray(img)


def stems_of(picks) -> list[str]:
    return [Path(p.image).stem for p in picks]


# --- init ---------------------------------------------------------------------------------------


def test_init_writes_a_small_portable_state(tmp_path, data):
    project = new_project(tmp_path, data)
    state = json.loads((project / STATE_FILE).read_text())
    assert state["format"] == "alseg-project" and state["version"] == 2
    assert state["images"]["relative"] == "../data/images"
    assert state["images"]["absolute"] == str((data / "images").resolve())
    assert state["images"]["given"] == str(data / "images")
    assert state["classes"]["names"] == ["road", "car", "person"]
    assert state["classes"]["ids"] == IDS
    assert state["labeled"] == [] and state["rounds"] == []
    assert state["settings"]["working_size"] is None  # 32x32 images stay native
    assert (project / "classes.yaml").read_text() == (data / "classes.yaml").read_text()
    with pytest.raises(ConfigError, match="already an alseg project"):
        new_project(tmp_path, data)


def test_init_imports_existing_masks(tmp_path, data):
    expected = write_masks(tmp_path / "have", ["drive_000003", "solo"], kind="index")
    project = new_project(tmp_path, data, masks=tmp_path / "have")
    state = json.loads((project / STATE_FILE).read_text())
    assert state["labeled"] == ["drive_000003", "solo"]
    for stem, ids in expected.items():
        np.testing.assert_array_equal(label_ids(project, stem), ids)


def test_init_rejects_a_bad_mask_and_creates_nothing(tmp_path, data):
    write_masks(tmp_path / "have", ["drive_000003"], kind="index")
    save_png(tmp_path / "have" / "solo.png", np.full(SIZE, 9, dtype=np.uint8))
    with pytest.raises(DataError, match=r"solo\.png: class ids \[9\]"):
        new_project(tmp_path, data, masks=tmp_path / "have")
    assert not (tmp_path / "proj").exists()


def test_default_working_size():
    assert default_working_size([(32, 32), (32, 32)]) is None
    assert default_working_size([(256, 128)]) is None
    # 480x640 most common: scaled by 256 / 640 = 0.4 -> 192x256
    assert default_working_size([(480, 640), (480, 640), (100, 100)]) == (192, 256)
    # 1080x1920: 0.1333 -> 144 x 256
    assert default_working_size([(1080, 1920)]) == (144, 256)


def test_codec_round_trips_ids_above_255(tmp_path):
    path = tmp_path / "classes.yaml"
    classes = [
        {"name": "a", "id": 300, "color": [1, 1, 1]},
        {"name": "b", "id": 4, "color": [2, 2, 2]},
    ]
    path.write_text(yaml.safe_dump(classes))
    codec = MaskCodec(ClassList(path))
    indices = np.random.default_rng(0).choice([0, 1, 255], size=(5, 7))
    ids = codec.encode(indices)
    assert ids.dtype == np.uint16
    np.testing.assert_array_equal(
        ids, np.choose(np.where(indices == 255, 2, indices), [300, 4, 255])
    )
    save_png(tmp_path / "m.png", ids)
    np.testing.assert_array_equal(codec.decode(tmp_path / "m.png"), indices)


# --- the round trip -----------------------------------------------------------------------------


def check_round_folder(folder: Path, picks, data: Path) -> None:
    names = [p.image for p in picks]
    paths = [str((data / "images" / n).resolve()) for n in names]
    with (folder / "manifest.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["rank", "image", "path", "score", "strategy", "reason"]
    assert [r["rank"] for r in rows] == [str(i + 1) for i in range(len(picks))]
    assert [r["image"] for r in rows] == names and [r["path"] for r in rows] == paths
    assert all(r["reason"] for r in rows)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["image"] for e in manifest["images"]] == names
    assert {e["strategy"] for e in manifest["images"]} == {manifest["strategy"]}

    labels = [
        {"name": "road", "color": "#804080", "attributes": []},
        {"name": "car", "color": "#00008e", "attributes": []},
        {"name": "person", "color": "#dc143c", "attributes": []},
    ]
    assert json.loads((folder / "cvat" / "labels.json").read_text()) == labels
    assert (folder / "cvat" / "images.txt").read_text().splitlines() == paths
    task = json.loads((folder / "cvat" / "task.json").read_text())
    assert task["labels"] == labels and task["images"] == paths
    assert task["name"].endswith(f"round {manifest['round']}")

    tasks = json.loads((folder / "label_studio" / "tasks.json").read_text())
    prefix = "/data/local-files/?d="
    assert [unquote(t["data"]["image"].removeprefix(prefix)) for t in tasks] == [
        f"images/{n}" for n in names
    ]
    assert all(t["data"]["image"].startswith(prefix) for t in tasks)
    config = ElementTree.fromstring((folder / "label_studio" / "config.xml").read_text())
    assert config.tag == "View" and config.find("Image").get("value") == "$image"
    for tag in ("BrushLabels", "PolygonLabels"):
        control = config.find(tag)
        assert control.get("toName") == "image"
        assert [(x.get("value"), x.get("background")) for x in control] == [
            (entry["name"], entry["color"]) for entry in labels
        ]

    sheet = (folder / "contact_sheet.html").read_text()
    for rank, name in enumerate(names, start=1):
        thumb = folder / "thumbs" / f"{rank:04d}_{Path(name).stem}.jpg"
        assert f"thumbs/{thumb.name}" in sheet and f"#{rank}</b> {name}" in sheet
        with Image.open(thumb) as img:
            assert img.format == "JPEG" and max(img.size) <= 256


def test_round_trip_init_select_import_select(tmp_path, data):
    project = new_project(tmp_path, data)
    first = select(project, 4, device="cpu")
    assert first.round == 1 and first.requested == "auto"
    assert first.strategy in untrained_strategies() and first.trained_on == 0
    assert first.advice is not None
    assert first.folder == project / "rounds" / "round_1"
    check_round_folder(first.folder, first.picks, data)

    expected = write_masks(tmp_path / "returned", stems_of(first.picks))
    result = import_masks(project, tmp_path / "returned")
    assert sorted(result.imported) == sorted(expected) and result.updated == []
    assert result.labeled_total == 4
    for stem, ids in expected.items():
        np.testing.assert_array_equal(label_ids(project, stem), ids)

    second = select(project, 3, strategy="entropy", device="cpu")
    assert second.round == 2 and second.strategy == "entropy" and second.trained_on == 4
    assert not set(stems_of(second.picks)) & set(expected)
    scores = [p.score for p in second.picks]
    assert scores == sorted(scores, reverse=True)
    check_round_folder(second.folder, second.picks, data)

    state = json.loads((project / STATE_FILE).read_text())
    assert [r["strategy"] for r in state["rounds"]] == [first.strategy, "entropy"]
    assert state["rounds"][1]["images"] == [p.image for p in second.picks]
    assert state["labeled"] == sorted(expected)

    corrected = write_masks(tmp_path / "fix", stems_of(first.picks)[:1], seed=5)
    result = import_masks(project, tmp_path / "fix")
    assert result.imported == [] and result.updated == stems_of(first.picks)[:1]
    stem = stems_of(first.picks)[0]
    np.testing.assert_array_equal(label_ids(project, stem), corrected[stem])


def test_images_sent_out_are_not_picked_again(tmp_path, data):
    project = new_project(tmp_path, data)
    first = select(project, 5, strategy="random", device="cpu")
    second = select(project, 5, strategy="coreset", device="cpu")
    assert not set(stems_of(first.picks)) & set(stems_of(second.picks))
    coreset_scores = [p.score for p in second.picks]
    assert None not in coreset_scores  # distances to the images already sent out
    assert coreset_scores == sorted(coreset_scores, reverse=True)  # k-center: radii shrink
    with pytest.raises(ConfigError, match="budget 8 exceeds the 7 images left"):
        select(project, 8, strategy="random", device="cpu")


@pytest.mark.parametrize(
    ("strategy", "error", "message"),
    [
        ("entropy", ConfigError, "needs a model trained on labeled images, but none is labeled"),
        ("bald", ConfigError, "first round use one of: auto, coreset, random"),
        ("magic", ConfigError, "unknown strategy 'magic'; allowed: auto, bald"),
        ("full", ConfigError, "unknown strategy 'full'"),
    ],
)
def test_bad_strategies(tmp_path, data, strategy, error, message):
    project = new_project(tmp_path, data)
    before = (project / STATE_FILE).read_bytes()
    with pytest.raises(error, match=message):
        select(project, 2, strategy=strategy, device="cpu")
    assert (project / STATE_FILE).read_bytes() == before
    assert not (project / "rounds").exists()


@pytest.mark.parametrize("budget", [0, -1, 18])
def test_impossible_budgets(tmp_path, data, budget):
    project = new_project(tmp_path, data)
    with pytest.raises(ConfigError, match="budget"):
        select(project, budget, strategy="random", device="cpu")


# --- bad masks: one clear error, nothing imported ------------------------------------------------


def bad_mask(folder: Path, kind: str) -> tuple[str, str]:
    """Write one bad mask; return its file name and a piece of the expected message."""
    if kind == "size":
        save_png(folder / "drive_000001.png", np.zeros((30, 32), dtype=np.uint8))
        message = "size 30 x 32 (H x W) differs from its image drive_000001.png (32 x 32)"
        return "drive_000001.png", message
    if kind == "id":
        ids = np.zeros(SIZE, dtype=np.uint8)
        ids[3, 4] = 9
        save_png(folder / "drive_000001.png", ids)
        return "drive_000001.png", "class ids [9] are not in the class list"
    if kind == "colour":
        rgb = np.zeros((*SIZE, 3), dtype=np.uint8)
        rgb[:] = COLORS[0]
        rgb[5:7, 5:7] = (1, 2, 3)
        save_png(folder / "drive_000001.png", rgb)
        return "drive_000001.png", "colours [[1, 2, 3]] are not in the class list"
    if kind == "stem":
        save_png(folder / "nosuch.png", np.zeros(SIZE, dtype=np.uint8))
        return "nosuch.png", "no image named 'nosuch'"
    if kind == "mode":
        Image.new("LA", SIZE).save(folder / "drive_000001.png")
        return "drive_000001.png", "mask mode LA"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["size", "id", "colour", "stem", "mode"])
def test_a_bad_mask_imports_nothing(tmp_path, data, kind):
    project = new_project(tmp_path, data)
    select(project, 3, strategy="random", device="cpu")
    before = (project / STATE_FILE).read_bytes()
    returned = tmp_path / "returned"
    write_masks(returned, ["drive_000000", "lane_000002"])  # good ones, sorted around the bad
    name, message = bad_mask(returned, kind)
    with pytest.raises(DataError) as caught:
        import_masks(project, returned)
    text = str(caught.value)
    assert "\n" not in text and name in text and message in text, text
    assert text.endswith("; nothing imported")
    assert (project / STATE_FILE).read_bytes() == before
    assert not (project / "labels").exists() or not any((project / "labels").iterdir())


def test_every_bad_mask_is_counted(tmp_path, data):
    project = new_project(tmp_path, data)
    returned = tmp_path / "returned"
    bad_mask(returned, "id")
    bad_mask(returned, "stem")
    with pytest.raises(DataError, match=r"\(and 1 more bad masks\); nothing imported"):
        import_masks(project, returned)


def test_cvat_export_zip_reads_background_as_ignore(tmp_path, data):
    project = new_project(tmp_path, data)
    rgb = np.zeros((*SIZE, 3), dtype=np.uint8)
    rgb[:16] = COLORS[1]  # car on top, CVAT background (black) below
    buffer = tmp_path / "m.png"
    save_png(buffer, rgb)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(
            "labelmap.txt",
            "# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad:128,64,128::\n"
            "car:0,0,142::\nperson:220,20,60::\n",
        )
        bundle.write(buffer, "SegmentationClass/drive_000004.png")
        bundle.write(buffer, "SegmentationObject/drive_000004.png")
        save_png(buffer, np.zeros((*SIZE, 3), dtype=np.uint8))  # untouched image: all black
        bundle.write(buffer, "SegmentationClass/lane_000001.png")
        bundle.writestr("ImageSets/Segmentation/default.txt", "drive_000004\nlane_000001\n")
    result = import_masks(project, archive)
    assert result.imported == ["drive_000004"] and result.skipped == ["lane_000001"]
    expected = np.full(SIZE, 255, dtype=np.uint8)
    expected[:16] = 7
    np.testing.assert_array_equal(label_ids(project, "drive_000004"), expected)
    # without the labelmap, black is just an unknown colour
    rgb[16:] = 0
    save_png(tmp_path / "plain" / "lane_000001.png", rgb)
    with pytest.raises(DataError, match=r"colours \[\[0, 0, 0\]\]"):
        import_masks(project, tmp_path / "plain")


# --- the state survives moves ---------------------------------------------------------------------


def test_project_moved_with_its_images_keeps_working(tmp_path, data):
    project = new_project(tmp_path, data)
    select(project, 2, strategy="random", device="cpu")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project, elsewhere / "proj")
    shutil.copytree(data, elsewhere / "data")
    shutil.rmtree(data)
    moved = select(elsewhere / "proj", 2, strategy="random", device="cpu")
    assert moved.round == 2
    assert all(
        Path(p.path).parent == (elsewhere / "data" / "images").resolve() for p in moved.picks
    )
    shutil.rmtree(elsewhere / "data")
    with pytest.raises(DataError, match="images folder of project .* not found"):
        select(elsewhere / "proj", 2, strategy="random", device="cpu")


def test_not_a_project(tmp_path):
    with pytest.raises(DataError, match="is not an alseg project"):
        select(tmp_path, 2)
    (tmp_path / STATE_FILE).write_text("{broken")
    with pytest.raises(DataError, match="cannot read project state"):
        import_masks(tmp_path, tmp_path)
