"""`alseg run` end to end through the real entry point (subprocess), including bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TINY = {
    "pool": {"kind": "5f", "size": 20, "seed": 0},
    "data": {"name": "synthdrive", "image_size": [32, 64]},
    "train": {"epochs": 1, "min_iterations": 2, "batch_size": 4, "channels_last": False},
    "budget": {"initial": 20, "step": 20, "until": 40},
    "max_val_images": 16,
}


def alseg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from alseg.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_run_writes_results_and_curve(tmp_path: Path, tiny_config: Path):
    out = tmp_path / "out"
    done = alseg(
        "run",
        "--config",
        str(tiny_config),
        "--strategy",
        "entropy",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert [c["labeled"] for c in results["cycles"]] == [4, 8]
    assert results["strategy"] == "entropy"
    assert results["miou_at_budget"] == results["cycles"][-1]["miou"]
    assert len(results["cycles"][1]["added"]) == 4
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mIoU@B" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "magic"], "unknown strategy 'magic'; allowed: bald, coreset"),
        (["--budget", "10-10", "--until", "120"], "until"),
        (["--budget", "abc"], "not of the form I-S"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--dataset", "cityscapes"], "needs --data-root"),
        (["--pool", "7x"], "pool"),
        (["--pool-size", "999999"], "999999"),
        (["--ssl", "magic"], "ssl"),
        (["--head-dropout", "1.5"], "head_dropout"),
        (["--dataset", "camvid", "--data-root", ".", "--image-size", "32x64"], "synthdrive only"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, tiny_config: Path, args, message):
    out = tmp_path / "out"
    done = alseg("run", "--config", str(tiny_config), "--out", str(out), *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


def test_strategies_lists_every_registered_name(tmp_path: Path):
    done = alseg("strategies", cwd=tmp_path)
    assert done.returncode == 0
    for name in ("random", "entropy", "equal", "equal-consistency", "bald", "coreset", "uniform",
                 "uniform5-entropy", "typiclust", "diverse-entropy", "full"):  # fmt: skip
        assert name in done.stdout
    assert "MC dropout x20" in done.stdout
