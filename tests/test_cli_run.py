"""`alseg run` end to end through the real entry point (subprocess), including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from alseg.acquisition.registry import list_strategies
from alseg.cli.run import experiment_from_options
from tests.cli_helpers import alseg_in_process, alseg_subprocess

TINY = {
    "pool": {"kind": "5f", "size": 20, "seed": 0},
    "data": {"name": "synthdrive", "image_size": [32, 64]},
    "train": {"epochs": 1, "min_iterations": 2, "batch_size": 4, "channels_last": False},
    "budget": {"initial": 20, "step": 20, "until": 40},
    "max_val_images": 16,
}


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.mark.slow
def test_run_writes_results_and_curve(tmp_path: Path, tiny_config: Path):
    out = tmp_path / "out"
    done = alseg_subprocess(
        "run",
        "--config",
        str(tiny_config),
        "--strategy",
        "entropy",
        "--budget",
        "20-20@40",
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
        (["--strategy", "magic"], "unknown strategy 'magic'; allowed: "),
        (["--strategy", "no_module:thing"], "cannot import 'no_module'"),
        (["--budget", "10-10", "--until", "120"], "until"),
        (["--budget", "abc"], "not of the form I-S"),
        (["--budget", "10-10-30"], "write it as I-S@B, e.g. 10-10@30"),
        (["--image-size", "64by128"], "image size '64by128' is not HxW"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--dataset", "cityscapes"], "needs --data-root"),
        (["--pool", "7x"], "pool"),
        (["--pool-size", "999999"], "999999"),
        (["--ssl", "magic"], "ssl"),
        (["--head-dropout", "1.5"], "head_dropout"),
        (["--dataset", "camvid", "--data-root", ".", "--image-size", "32x64"], "synthdrive only"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, tiny_config: Path, args, message, monkeypatch, capsys
):
    out = tmp_path / "out"
    run = ("run", "--config", str(tiny_config), "--out", str(out), *args)
    done = alseg_in_process(*run, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize(
    ("budget", "until", "label"),
    [
        ("10-10@30", None, "10-10@30"),
        ("10-10", 30.0, "10-10@30"),
        (None, 30.0, "10-10@30"),
        ("2-2", None, "2-2@10"),
        ("1000+1000x3", None, "1000+1000x3"),
    ],
)
def test_budget_option_reads_the_budget_grammar(budget, until, label):
    config = experiment_from_options({"budget": budget, "until": until}, set(), None)
    assert config.budget.label() == label


def test_strategies_lists_every_registered_name(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "300")
    done = alseg_in_process("strategies", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0
    for name in [*list_strategies(), "full"]:
        assert name in done.stdout
    assert "mc:20" in done.stdout and "mc_passes=20" in done.stdout
