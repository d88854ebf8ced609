"""``alseg advise``, ``init``, ``select`` and ``import`` through Typer, and bad input through the
real entry point (exit code 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from alseg.cli import project as cli
from alseg.errors import ConfigError
from alseg.project import init_project
from tests.cli_helpers import alseg_in_process
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_folder_tree, save_png

torch.set_num_threads(1)

runner = CliRunner()
app = typer.Typer()
app.command("advise")(cli.advise)
app.command("init")(cli.init)
app.command("select")(cli.select)
app.command("import")(cli.import_)

STEMS = [f"drive_{i:06d}" for i in range(8)] + [f"park_{i:06d}" for i in range(4)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_folder_tree(root, stems={"train": STEMS}, unlabeled=STEMS, size=(32, 32))
    return root


def test_advise_json_on_an_images_folder(data):
    result = runner.invoke(
        app, ["advise", "--data", str(data / "images"), "--budget", "2-2", "--json"]
    )
    assert result.exit_code == 0, result.output
    advice = json.loads(result.stdout)
    assert advice["budget"] == "low" and advice["ssl_available"] is False
    assert advice["images"] == 12 and advice["budget_setting"] == "2-2"
    redundancy = advice["redundancy"]
    # 2 sequences of consecutive frames: temporal redundancy 1 - 2/12
    assert redundancy["temporal_redundancy"] == pytest.approx(10 / 12)
    assert redundancy["index"] == pytest.approx(
        (redundancy["embedding_redundancy"] + redundancy["temporal_redundancy"]) / 2
    )
    assert advice["embeddings"]["near_duplicate_fraction"] == 0.5
    expected = "coreset" if redundancy["index"] >= 0.5 else "random"
    assert advice["recommendation"]["strategy"] == expected


def test_advise_text_on_a_synthdrive_pool():
    result = runner.invoke(
        app,
        ["advise", "--dataset", "synthdrive", "--pool", "21f", "--pool-size", "42"]
        + ["--budget", "10-10", "--ssl", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Recommendation: Batch-SSL  (strategy=coreset, ssl=s4gan)" in text
    assert "Pool: redundant, budget: high, with SSL available." in text
    assert "over 42 images" in text and "Why: " in text
    assert "near-duplicates within 0.5 x the typical distance" in text


def test_advise_budget_in_images_uses_the_pool_size(data):
    folder = ["advise", "--data", str(data), "--json", "--budget"]
    low = json.loads(runner.invoke(app, [*folder, "1"]).stdout)  # 1 of 12 images: 8%
    high = json.loads(runner.invoke(app, [*folder, "6"]).stdout)  # 50%
    assert (low["budget"], high["budget"]) == ("low", "high")


@pytest.mark.parametrize(("budget", "regime"), [("10-10@30", "high"), ("1+1x1", "low")])
def test_advise_reads_the_budget_grammar(data, budget, regime):
    result = runner.invoke(app, ["advise", "--data", str(data), "--json", "--budget", budget])
    assert result.exit_code == 0, result.output
    advice = json.loads(result.stdout)
    assert (advice["budget"], advice["budget_setting"]) == (regime, budget)


def test_advise_needs_one_source(data):
    result = runner.invoke(app, ["advise"])
    assert isinstance(result.exception, ConfigError)
    assert "give either --data PATH" in str(result.exception)


def test_project_commands_round_trip(tmp_path, data):
    project = tmp_path / "proj"
    result = runner.invoke(
        app,
        ["init", str(project), "--images", str(data / "images")]
        + ["--classes", str(data / "classes.yaml"), "--epochs", "0.1"],
    )
    assert result.exit_code == 0, result.output
    assert "12 images, 0 labeled, working size native" in result.stdout
    result = runner.invoke(
        app, ["select", str(project), "--budget", "3", "--strategy", "random", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "round 1: random" in result.stdout and "contact_sheet.html" in result.stdout
    picked = json.loads((project / "rounds" / "round_1" / "manifest.json").read_text())["images"]
    rng = np.random.default_rng(0)
    colors = np.asarray([c["color"] for c in FOLDER_CLASSES], dtype=np.uint8)
    for entry in picked:
        stem = Path(entry["image"]).stem
        save_png(tmp_path / "back" / f"{stem}.png", colors[block_labels(rng, (32, 32), range(3))])
    result = runner.invoke(app, ["import", str(project), "--masks", str(tmp_path / "back")])
    assert result.exit_code == 0, result.output
    assert "imported 3 new masks, replaced 0, skipped 0" in result.stdout
    assert "3 images labeled" in result.stdout


def test_bad_input_exits_2_with_one_line(tmp_path, data, monkeypatch, capsys):
    project = tmp_path / "proj"
    init_project(project, data / "images", data / "classes.yaml")
    save_png(tmp_path / "back" / "drive_000001.png", np.full((32, 32), 9, dtype=np.uint8))
    cases = [
        (("import", str(project), "--masks", str(tmp_path / "back")), "class ids [9]"),
        (("advise", "--budget", "2-2"), "give either --data PATH"),
        (("advise", "--data", str(data), "--budget", "10-10-30"), "write it as I-S@B"),
    ]
    for args, message in cases:
        done = alseg_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
