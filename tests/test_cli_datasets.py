"""`alseg run --dataset X --data-root PATH` end to end on tiny format-faithful trees."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alseg.cli import app
from tests import fixtures_data

TINY = {
    "train": {"epochs": 1, "min_iterations": 2, "batch_size": 2, "channels_last": False},
    "model": {"weights": "none"},
}
BUILDERS = {
    "cityscapes": fixtures_data.make_cityscapes_tree,
    "pascal_voc": fixtures_data.make_voc_tree,
    "a2d2": fixtures_data.make_a2d2_tree,
    "camvid": fixtures_data.make_camvid_tree,
    "folder": fixtures_data.make_folder_tree,
}
OPTIONS = {"a2d2": {"scale": 1.0}}


@pytest.mark.parametrize("dataset", sorted(BUILDERS))
def test_run_on_a_tiny_tree(tmp_path: Path, dataset: str):
    root = tmp_path / "data"
    BUILDERS[dataset](root)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {"options": OPTIONS.get(dataset, {})}}))
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--dataset", dataset, "--data-root", str(root)]
    args += ["--pool", "all", "--budget", "40-40", "--until", "80", "--strategy", "entropy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a2d2's fixture holds an unknown colour on purpose
        result = CliRunner().invoke(app, [*args, "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    results = json.loads((out / "results.json").read_text())
    assert [c["labeled"] for c in results["cycles"]] == [1, 2]
    assert results["config"]["data"]["name"] == dataset
    last = results["cycles"][-1]
    present = [iou for iou in last["per_class_iou"].values() if iou is not None]
    assert results["miou_at_budget"] == pytest.approx(sum(present) / len(present))
    unknown = sum(n.get("unknown_label_pixels", 0) for n in results["data_notes"].values())
    assert (unknown > 0) == (dataset == "a2d2")  # item 14: the fixture's unknown colour
    assert ("unknown colours were ignored" in result.output) == (dataset == "a2d2")
