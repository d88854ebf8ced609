from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alseg.cli import data as cli_data
from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.errors import ConfigError, DataError

runner = CliRunner()


class FakeVideo(SegDataset):
    """Three sequences of 40 frames numbered 0..39, masks of one class per sequence."""

    name = "fakevideo"
    class_names = ("road", "car", "sky")

    def __init__(self) -> None:
        self.items = [(f"seq{s}", f) for s in range(3) for f in range(40)]

    def __len__(self) -> int:
        return len(self.items)

    def meta(self, index: int) -> FrameMeta:
        seq, frame = self.items[index]
        return FrameMeta(seq, frame, f"{seq}/{seq}_{frame:04d}.png")

    def load(self, index: int) -> Sample:
        seq = int(self.items[index][0][-1])
        mask = np.full((4, 6), seq, dtype=np.int64)
        return Sample(np.zeros((4, 6, 3), dtype=np.uint8), mask, self.meta(index))


@pytest.fixture
def fake_registry(monkeypatch):
    calls = []

    def create(name, split, root=None, **options):
        calls.append((name, split, root))
        return FakeVideo()

    monkeypatch.setattr(cli_data, "create_dataset", create)
    return calls


def test_stats_json_of_a_pool(fake_registry):
    result = runner.invoke(
        cli_data.app, ["stats", "--pool", "5f", "--pool-size", "20", "--seed", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert fake_registry == [("synthdrive", "train", None)]
    assert stats["images"] == 20 and stats["groups"]["histogram"] == {"5": 4}
    assert stats["class_frequencies"]["ignore"] == 0.0
    assert sum(stats["class_frequencies"][c] for c in ("road", "car", "sky")) == pytest.approx(1)


def test_stats_table_and_options(fake_registry, tmp_path):
    result = runner.invoke(
        cli_data.app,
        [
            "stats",
            "--dataset",
            "camvid",
            "--data-root",
            str(tmp_path),
            "--split",
            "val",
            "--no-classes",
        ],
    )
    assert result.exit_code == 0, result.output
    assert fake_registry == [("camvid", "val", tmp_path)]
    assert "fakevideo pool all" in result.stdout and "pixels:" not in result.stdout
    assert "redundancy within 5 frames" in result.stdout


def test_stats_of_a_list_file_needs_no_dataset(fake_registry, tmp_path):
    path = tmp_path / "pool.txt"
    path.write_text("a/a_1.png\na/a_2.png\nb/b_9.png\na/a_1.png")
    result = runner.invoke(cli_data.app, ["stats", "--list", str(path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert fake_registry == []
    assert stats["duplicate_lines"] == 1 and stats["runs"][0]["histogram"] == {"1": 1, "2": 1}


def test_stats_agreement_uses_the_agreement_module(fake_registry, monkeypatch):
    seen = {}

    def label_agreement(dataset, lags):
        seen["args"] = (len(dataset), lags)
        return {1: 0.97, 20: 0.8}

    module = types.ModuleType("alseg.data.agreement")
    module.label_agreement = label_agreement
    monkeypatch.setitem(sys.modules, "alseg.data.agreement", module)
    result = runner.invoke(cli_data.app, ["stats", "--no-classes", "--agreement", "--json"])
    assert result.exit_code == 0, result.output
    assert seen["args"] == (120, (1, 20))
    assert json.loads(result.stdout)["label_agreement"] == {"1": 0.97, "20": 0.8}


def test_preview_calls_write_preview(fake_registry, monkeypatch, tmp_path):
    seen = {}

    def write_preview(dataset, path, count, seed):
        seen.update(size=len(dataset), path=Path(path), count=count, seed=seed)

    module = types.ModuleType("alseg.data.preview")
    module.write_preview = write_preview
    monkeypatch.setitem(sys.modules, "alseg.data.preview", module)
    out = tmp_path / "p.png"
    args = ["preview", "--pool", "aug", "--pool-size", "12", "--count", "4", "--seed", "3"]
    result = runner.invoke(cli_data.app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert seen == {"size": 12, "path": out, "count": 4, "seed": 3}


def test_user_errors_raise_alseg_errors(fake_registry, tmp_path):
    result = runner.invoke(cli_data.app, ["stats", "--pool", "7frames"])
    assert isinstance(result.exception, ConfigError)
    assert "allowed: 0f, <X>f, all, aug, list:FILE, random" in str(result.exception)
    result = runner.invoke(cli_data.app, ["stats", "--list", str(tmp_path / "missing.txt")])
    assert isinstance(result.exception, DataError)
    result = runner.invoke(cli_data.app, ["stats", "--pool", "random", "--pool-size", "500"])
    assert "pool size 500 larger than dataset fakevideo with 120 frames" in str(result.exception)


def test_item03_preview_and_report_outputs_are_checked_first(tmp_path, monkeypatch, capsys):
    from tests.cli_helpers import alseg_in_process

    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (("data", "preview", "--out", str(tmp_path)), "is a folder; give a .png file name"),
        (("data", "preview", "--out", str(blocker / "p.png")), "is a file; give a folder"),
    ]
    for args, message in cases:
        done = alseg_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], lines
