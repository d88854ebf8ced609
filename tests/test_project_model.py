"""The round's model: kept, reloadable with weights_only, its quality estimated, its
predictions in both exports of the round, and ``predict``; the project commands through the CLI
(progress lines in a log file, status, release, bad input)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alseg.annotation import MaskCodec
from alseg.annotation.brush import decode_mask
from alseg.data.folder import ClassList
from alseg.project import Project, RoundModel, import_masks, init_project, predict, select
from tests.cli_helpers import alseg_in_process
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_folder_tree, save_png

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

SIZE = (32, 32)
STEMS = [f"drive_{i:06d}" for i in range(8)] + [f"lane_{i:06d}" for i in range(6)]
LABELED = ["drive_000000", "drive_000004", "drive_000007", "lane_000000", "lane_000003"]
IDS = np.asarray([c["id"] for c in FOLDER_CLASSES], dtype=np.uint8)
NAMES = [c["name"] for c in FOLDER_CLASSES]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    make_folder_tree(data, stems={"train": STEMS}, unlabeled=STEMS, size=SIZE)
    rng = np.random.default_rng(0)
    for stem in LABELED:
        save_png(tmp_path / "masks" / f"{stem}.png", IDS[block_labels(rng, SIZE, range(3))])
    directory = tmp_path / "proj"
    init_project(directory, data / "images", data / "classes.yaml", epochs=0.1, min_iterations=2)
    import_masks(directory, tmp_path / "masks")
    return directory


def test_select_after_import_keeps_the_model_and_pre_annotates_every_pick(project, tmp_path):
    result = select(project, 4, strategy="entropy", device="cpu")
    assert result.trained_on == len(LABELED)
    quality = result.quality
    assert quality["method"] == "k-fold" and quality["grouped_by"] == "sequence"
    assert quality["folds"] == 2 and 0 <= quality["miou"] <= 100
    assert "by 2-fold cross-validation over the 5 labeled images" in quality["summary"]
    assert set(quality["per_class_iou"]) == set(NAMES)

    checkpoint = torch.load(result.folder / "model.pt", weights_only=True)
    assert checkpoint["format"] == "alseg-round-model" and checkpoint["round"] == 1
    assert checkpoint["trained_on"] == sorted(LABELED) and checkpoint["classes"] == NAMES
    assert checkpoint["quality"] == quality
    state = json.loads((project / "alseg-project.json").read_text())["rounds"][0]
    assert state["model"] == "rounds/round_1/model.pt" and state["quality"] == quality
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["model"]["trained_on"] == 5 and manifest["model"]["quality"] == quality

    codec = MaskCodec(ClassList(project / "classes.yaml"))
    picks = [Path(p.image).stem for p in result.picks]
    predicted = {s: codec.decode(result.folder / "predictions" / f"{s}.png") for s in picks}
    tasks = json.loads((result.folder / "label_studio" / "tasks.json").read_text())
    assert len(tasks) == len(picks)
    for stem, task in zip(picks, tasks, strict=True):
        (made,) = task["predictions"]
        assert made["model_version"] == "alseg round 1 (entropy)" and 0 < made["score"] <= 1
        painted = np.full(SIZE, 255)
        for region in made["result"]:
            index = NAMES.index(region["value"]["brushlabels"][0])
            painted[decode_mask(region["value"]["rle"], *SIZE, "x")] = index
        np.testing.assert_array_equal(painted, predicted[stem])
    with zipfile.ZipFile(result.folder / "cvat" / "predictions.zip") as bundle:
        assert sorted(n for n in bundle.namelist() if n.startswith("SegmentationClass/")) == [
            f"SegmentationClass/{s}.png" for s in sorted(picks)
        ]

    # the model reloads, and ``predict`` writes the same masks for the picks
    loaded = RoundModel.load(result.folder / "model.pt")
    assert loaded.record["trained_on"] == sorted(LABELED)
    done = predict(project, device="cpu")
    assert done.round == 1 and done.count == len(STEMS) - len(LABELED)
    assert done.out == project / "predictions" / "round_1"
    for stem in picks:
        np.testing.assert_array_equal(
            codec.decode(done.out / "masks" / f"{stem}.png"), predicted[stem]
        )
        with Image.open(done.out / "preview" / f"{stem}.png") as preview:
            assert preview.mode == "RGB" and preview.size == SIZE
    assert (done.out / "confidence.csv").read_text().startswith("image,confidence\n")


def test_a_large_labeled_set_is_estimated_on_held_out_images(tmp_path):
    data = tmp_path / "data"
    stems = [f"walk_{i:06d}" for i in range(20)] + [f"ride_{i:06d}" for i in range(16)]
    unlabeled = [f"ride_{i:06d}" for i in range(12, 16)]
    make_folder_tree(data, stems={"train": stems}, unlabeled=unlabeled, size=(16, 16))
    init_project(
        tmp_path / "p",
        data / "images",
        data / "classes.yaml",
        data / "masks",
        epochs=0.1,
        min_iterations=2,
    )
    result = select(tmp_path / "p", 2, strategy="random", device="cpu")
    quality = result.quality
    assert quality["method"] == "held-out" and quality["folds"] == 1
    assert quality["held_out"] >= 7 and result.trained_on == 32 - quality["held_out"]
    assert f"on {quality['held_out']} labeled images held out" in quality["summary"]
    checkpoint = torch.load(result.folder / "model.pt", weights_only=True)
    assert len(checkpoint["trained_on"]) == result.trained_on
    # no estimate when asked not to: the model is trained on every labeled image
    skipped = select(tmp_path / "p", 2, strategy="random", device="cpu", estimate=False)
    assert skipped.quality is None and skipped.trained_on == 32


def test_project_commands_in_a_log_file(project, tmp_path, monkeypatch, capsys):
    def alseg(*args: str):
        return alseg_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)

    done = alseg(
        "select",
        str(project),
        "--budget",
        "3",
        "--strategy",
        "entropy",
        "--min-iterations",
        "3",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("fold 1/2 training: 3/3 iterations in ") for line in lines)
    assert any(line.startswith("training: 3/3 iterations in ") for line in lines)
    assert any(line.startswith("predicting: 3/3 images in ") for line in lines)
    assert any(line.startswith("round model quality: mIoU ") for line in lines)
    assert "(round 1 in " in done.stdout

    shown = json.loads(alseg("status", str(project), "--json").stdout)
    assert shown["labeled"] == len(LABELED) and shown["pending"] == 3
    assert shown["last_quality"]["round"] == 1 and shown["rounds"][0]["trained_on"] == 5
    text = alseg("status", str(project)).stdout
    assert "last quality estimate (round 1): mIoU" in text and "next: annotate the 3" in text

    image = Project.load(project).images_dir / "drive_000001.png"
    made = alseg("predict", str(project), "--images", str(image), "--out", str(tmp_path / "o"))
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "o" / "masks" / "drive_000001.png").is_file()
    assert (tmp_path / "o" / "preview" / "drive_000001.png").is_file()

    released = alseg("release", str(project), "--round", "1")
    assert released.returncode == 0 and "released 3 images of round 1" in released.stdout
    for args, message in [
        (("release", str(project), "--round", "9"), "error: no round 9 in"),
        (("predict", str(project), "--round", "2"), "error: round 2 has no model"),
        (("predict", str(project), "--images", "nosuch.png"), "error: nosuch.png: not an image"),
    ]:
        bad = alseg(*args)
        assert bad.returncode == 2 and bad.stderr.startswith(message), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
