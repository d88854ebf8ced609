"""One engine behind every entry point: ``alseg run`` and a one-run study give the same picks and
mIoU; a strategy written outside the package runs through both."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import alseg_subprocess as alseg

TINY = {
    "pool": {"kind": "5f", "size": 20, "seed": 0},
    "data": {"name": "synthdrive", "image_size": [32, 64]},
    "train": {"epochs": 1, "min_iterations": 2, "batch_size": 4, "channels_last": False},
    "max_val_images": 16,
}
BUDGET = "20-20@60"

pytestmark = pytest.mark.slow


def run_cycles(tmp_path: Path, strategy: str, options: dict | None = None) -> list[dict]:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({**TINY, "strategy_options": options or {}}))
    out = tmp_path / "run"
    done = alseg(
        "run", "--config", str(config), "--strategy", strategy, "--budget", BUDGET,
        "--out", str(out), "--device", "cpu", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text())["cycles"]


def study_cycles(tmp_path: Path, strategy: str, options: dict | None = None) -> list[tuple]:
    pool = {"dataset": "synthdrive", **TINY["pool"]}
    base = {**{key: value for key, value in TINY.items() if key != "pool"}, "data": {}}
    base["data"]["image_size"] = TINY["data"]["image_size"]
    study = {
        "name": "one-run", "pools": [pool], "strategies": [strategy], "budgets": [BUDGET],
        "seeds": [0], "base": base, "include_full_reference": False,
        "strategy_options": {strategy: options} if options else {},
    }  # fmt: skip
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    out = tmp_path / "study"
    done = alseg("study", str(path), "--out", str(out), "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(out / "study.sqlite") as db:
        rows = db.execute("SELECT added, acquired, metrics FROM cycles ORDER BY cycle").fetchall()
    return [(json.loads(a), json.loads(b), json.loads(m)) for a, b, m in rows]


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("entropy", None), ("tests.toy_strategy:latest_frames", {"stride": 2})],
)
def test_run_and_a_one_run_study_pick_the_same_images_with_the_same_miou(
    tmp_path: Path, strategy: str, options: dict | None
):
    by_run = run_cycles(tmp_path, strategy, options)
    by_study = study_cycles(tmp_path, strategy, options)
    assert len(by_run) == len(by_study) == 3
    for cycle, (added, acquired, metrics) in zip(by_run, by_study, strict=True):
        assert cycle["added"] == added and cycle["acquired"] == acquired
        assert cycle["miou"] == metrics["miou"]
        assert cycle["per_class_iou"] == metrics["per_class_iou"]
