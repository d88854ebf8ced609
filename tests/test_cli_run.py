"""`alseg run` end to end through the real entry point (subprocess), including bad input."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import yaml

from alseg.acquisition.registry import list_strategies
from alseg.cli.run import check_out_dir, default_out_dir, experiment_from_options
from alseg.errors import ConfigError, DataError
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
        (["--epochs", "0"], "train.epochs: Input should be greater than or equal to 0.01"),
        (["--min-iterations", "-1"], "train.min_iterations"),
        (["--miou-at", "35"], "mIoU@35 is not a step of budget 20-20@40; its steps are 20, 40"),
        (["--epochs", "-1"], "train.epochs"),
        (["--until", "0"], "until 0"),
        (["--budget", "10-15", "--until", "50"], "not a budget step"),
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


@pytest.mark.parametrize("kind", ["folder", "latin-1"])
def test_item10_a_config_that_is_a_folder_or_not_utf8_is_one_line(
    tmp_path, kind, monkeypatch, capsys
):
    config = tmp_path / "config.yaml"
    if kind == "folder":
        config.mkdir()
    else:
        config.write_bytes("strategy: entropy # caf\xe9\n".encode("latin-1"))
    done = alseg_in_process(
        "run", "--config", str(config), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and str(config) in lines[0], lines
    assert ("folder" if kind == "folder" else "not UTF-8") in lines[0]


def test_item03_an_unwritable_out_is_refused_before_training(
    tmp_path, tiny_config, monkeypatch, capsys
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    trained = []
    monkeypatch.setattr("alseg.loop.train_cycle", lambda *a, **k: trained.append(1))
    for out, message in ((blocker, "is a file"), (blocker / "out", "cannot write in")):
        done = alseg_in_process(
            "run", "--config", str(tiny_config), "--out", str(out),
            cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0], lines
    assert trained == []


def test_item03_disk_full_is_one_line_and_writes_none_of_the_files(tmp_path, monkeypatch):
    from alseg.io import atomic_write_files

    real = os.fsync
    calls = []

    def full_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_on_second)
    files = {tmp_path / "config.yaml": b"a", tmp_path / "results.json": b"b"}
    with pytest.raises(DataError, match="cannot write .*results.json: No space left on device"):
        atomic_write_files(files)
    assert list(tmp_path.iterdir()) == []


def test_item15_default_out_names_are_unique_and_an_earlier_run_is_kept(tmp_path):
    a = experiment_from_options({"budget": "10-10@30"}, {"budget"}, None)
    b = experiment_from_options({"budget": "10-10@50"}, {"budget"}, None)
    assert default_out_dir(a) != default_out_dir(b) and "10-10@30" in str(default_out_dir(a))
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(ConfigError, match="earlier run; give another --out or --overwrite"):
        check_out_dir(tmp_path, overwrite=False)
    check_out_dir(tmp_path, overwrite=True)


def test_model_weights_option_sets_the_weights_file():
    config = experiment_from_options({"model_weights": Path("w.pth")}, {"model_weights"}, None)
    assert config.model.weights_path == "w.pth"


def test_item07_until_alone_keeps_the_config_files_initial_and_step(tiny_config: Path):
    config = experiment_from_options({"until": 60.0}, {"until"}, tiny_config)
    assert config.budget.label() == "20-20@60"  # the file says 20-20@40


def test_strategies_lists_every_registered_name(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "300")
    done = alseg_in_process("strategies", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0
    for name in [*list_strategies(), "full"]:
        assert name in done.stdout
    assert "mc:20" in done.stdout and "mc_passes=20" in done.stdout
