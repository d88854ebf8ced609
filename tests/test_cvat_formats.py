"""CVAT formats without a CVAT server (none can run here): the round's cvat/README.txt command
is parsed by CVAT's own command line client (``cvat-cli``, its argument parser and its SDK's
task model, from the environment named by ``ALSEG_CVAT_PYTHON``; ``.ci/run`` installs it into
``.ci/cvat-venv``), and the predictions zip has the documented "Segmentation mask 1.1" layout
and reads back into a project by label name."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from alseg.annotation import (
    CVAT_FORMAT,
    MaskCodec,
    Pick,
    Prediction,
    Predictions,
    save_id_png,
    write_cvat,
)
from alseg.data.folder import ClassList
from alseg.project import Project, import_masks, init_project
from tests.cli_helpers import REPO
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_folder_tree

pytestmark = pytest.mark.integration

CVAT_ENV = "ALSEG_CVAT_PYTHON"
CI_PYTHON = REPO / ".ci" / "cvat-venv" / "bin" / "python"
SIZE = (24, 40)
STEMS = ["drive_000000", "drive_000001", "park_000000"]

PARSE = """
import argparse, json, sys
from cvat_cli._internal.commands_all import COMMANDS
from cvat_cli._internal.common import configure_common_arguments
from cvat_sdk import models
parser = argparse.ArgumentParser()
configure_common_arguments(parser)
COMMANDS.configure_parser(parser)
args = parser.parse_args(json.load(sys.stdin))
spec = models.TaskWriteRequest(name=args.name, labels=args.labels,
                               sorting_method=args.sorting_method)
print(json.dumps({
    "name": spec.name, "sorting_method": str(spec.sorting_method),
    "labels": [[label.name, label.color] for label in spec.labels],
    "resource_type": str(args.resource_type), "resources": args.resources,
    "annotation_path": args.annotation_path, "annotation_format": args.annotation_format,
}))
"""


def cvat_python() -> Path:
    """The Python named by ALSEG_CVAT_PYTHON (it must be one: .ci/run always sets it, after
    installing cvat-cli), else .ci/cvat-venv's; without either (a machine without cvat-cli,
    outside CI) the test skips."""
    given = os.environ.get(CVAT_ENV)
    path = Path(given) if given else CI_PYTHON
    if not path.is_file():
        if given:
            pytest.fail(f"{CVAT_ENV}={given} is not a Python interpreter")
        pytest.skip(
            f"no CVAT client: set {CVAT_ENV} to a Python with cvat-cli installed (.ci/run "
            f"installs one into .ci/cvat-venv); {path} is not one"
        )
    return path


@pytest.fixture
def round_cvat(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A project and the cvat/ folder of a round with predictions (made without training)."""
    data = tmp_path / "data"
    make_folder_tree(data, stems={"train": STEMS}, unlabeled=STEMS, size=SIZE)
    project = tmp_path / "proj"
    init_project(project, data / "images", data / "classes.yaml")
    classes = ClassList(data / "classes.yaml")
    codec = MaskCodec(classes)
    rng = np.random.default_rng(1)
    predicted, made, picks = {}, {}, []
    for rank, stem in enumerate(STEMS, start=1):
        indices = block_labels(rng, SIZE, range(3))
        save_id_png(tmp_path / "pred" / f"{stem}.png", codec.encode(indices))
        made[f"{stem}.png"] = Prediction(tmp_path / "pred" / f"{stem}.png", 0.5)
        predicted[stem] = indices
        path = str((data / "images" / f"{stem}.png").resolve())
        picks.append(Pick(rank, f"{stem}.png", path, None, "test"))
    folder = tmp_path / "cvat"
    write_cvat(folder, "proj round 1", classes, picks, project, Predictions(made, "v1", codec))
    return project, folder, predicted


def readme_command(folder: Path) -> list[str]:
    """The cvat-cli command of README.txt, its line continuations joined and images.txt
    substituted for $(cat images.txt), as a shell would."""
    text = (folder / "README.txt").read_text()
    match = re.search(r"^  (cvat-cli task create .*?)\n\n", text, flags=re.M | re.S)
    assert match, text
    line = match[1].replace("\\\n", " ")
    images = " ".join(shlex.quote(p) for p in (folder / "images.txt").read_text().splitlines())
    return shlex.split(line.replace("$(cat images.txt)", images))


def test_readme_command_parses_with_cvat_cli(round_cvat):
    python = cvat_python()
    _, folder, _ = round_cvat
    argv = readme_command(folder)
    assert argv[:3] == ["cvat-cli", "task", "create"]
    done = subprocess.run(
        [str(python), "-c", PARSE],
        input=json.dumps(argv[1:]),
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    assert parsed["name"] == "proj round 1" and parsed["sorting_method"] == "predefined"
    assert parsed["labels"] == [
        [c["name"], "#{:02x}{:02x}{:02x}".format(*c["color"])] for c in FOLDER_CLASSES
    ]
    assert parsed["resource_type"] == "local"
    assert parsed["resources"] == (folder / "images.txt").read_text().splitlines()
    assert parsed["annotation_path"] == "predictions.zip"
    assert parsed["annotation_format"] == CVAT_FORMAT == "Segmentation mask 1.1"
    assert (folder / parsed["annotation_path"]).is_file()


def test_predictions_zip_is_a_segmentation_mask_export(round_cvat):
    project, folder, predicted = round_cvat
    with zipfile.ZipFile(folder / "predictions.zip") as bundle:
        names = set(bundle.namelist())
        labelmap = bundle.read("labelmap.txt").decode()
        listed = bundle.read("ImageSets/Segmentation/default.txt").decode().split()
    assert names == {
        "labelmap.txt",
        "ImageSets/Segmentation/default.txt",
        *(f"SegmentationClass/{s}.png" for s in STEMS),
    }
    assert listed == STEMS
    assert labelmap.splitlines()[1:] == [
        "background:0,0,0::",
        "road:128,64,128::",
        "car:0,0,142::",
        "person:220,20,60::",
    ]
    # CVAT would show these as pre-annotations; read back by name they are the predictions
    result = import_masks(project, folder / "predictions.zip")
    assert sorted(result.imported) == sorted(STEMS)
    codec = Project.load(project).codec()
    for stem, indices in predicted.items():
        np.testing.assert_array_equal(codec.decode(Project.load(project).label_path(stem)), indices)
