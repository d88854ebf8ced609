"""Round bookkeeping and consistency of a project: label generations, killed commands and their
leftovers, the lock, status and release, version 1 projects, the quality estimate's split."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alseg.errors import ConfigError
from alseg.project import (
    STATE_FILE,
    Project,
    import_masks,
    init_project,
    release,
    select,
    status,
)
from alseg.project.labels import LabelGeneration
from alseg.project.quality import HOLDOUT_FROM, plan_estimate
from alseg.project.state import project_lock
from tests.cli_helpers import REPO, alseg_in_process
from tests.fixtures_data import FOLDER_CLASSES, block_labels, make_folder_tree, save_png

torch.set_num_threads(1)

SIZE = (16, 16)
STEMS = [f"drive_{i:06d}" for i in range(24)] + [f"lane_{i:06d}" for i in range(12)]
IDS = np.asarray([c["id"] for c in FOLDER_CLASSES], dtype=np.uint8)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_folder_tree(root, stems={"train": STEMS}, unlabeled=STEMS, size=SIZE)
    return root


def write_masks(folder: Path, stems: list[str], seed: int) -> dict[str, np.ndarray]:
    """Index masks of class ids; returns them by stem."""
    rng = np.random.default_rng(seed)
    written = {}
    for stem in stems:
        written[stem] = IDS[block_labels(rng, SIZE, range(3))]
        save_png(folder / f"{stem}.png", written[stem])
    return written


def new_project(tmp_path: Path, data: Path, masks: Path | None = None) -> Path:
    directory = tmp_path / "proj"
    init_project(
        directory,
        data / "images",
        data / "classes.yaml",
        masks,
        epochs=0.1,
        min_iterations=2,
        batch_size=2,
    )
    return directory


def labels_of(project: Path) -> dict[str, np.ndarray]:
    loaded = Project.load(project)
    out = {}
    for stem in loaded.labeled:
        with Image.open(loaded.label_path(stem)) as img:
            out[stem] = np.asarray(img)
    return out


def stray_files(project: Path) -> list[str]:
    return sorted(
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(".round_")
    )


# --- item 2 of issue 12: a killed import -----------------------------------------------------


KILLER = """
import os, signal, sys
from alseg.project import import_masks
from alseg.project.labels import LabelGeneration

written = LabelGeneration.write
count = 0

def write_then_die(self, stem, ids):
    global count
    written(self, stem, ids)
    count += 1
    if count == 5:
        os.kill(os.getpid(), signal.SIGKILL)

LabelGeneration.write = write_then_die
import_masks(sys.argv[1], sys.argv[2])
"""


def test_item02_killed_import_is_all_or_nothing(tmp_path, data, monkeypatch, capsys):
    old = write_masks(tmp_path / "old", STEMS[:20], seed=1)
    project = new_project(tmp_path, data, tmp_path / "old")
    new = write_masks(tmp_path / "new", STEMS[:30], seed=2)  # 20 re-imports, 10 new images
    state = (project / STATE_FILE).read_bytes()

    # a crash by an exception leaves nothing behind at all
    original = LabelGeneration.write

    def write_then_fail(self, stem, ids):
        if len(self.written) == 3:
            raise KeyboardInterrupt
        original(self, stem, ids)

    monkeypatch.setattr(LabelGeneration, "write", write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        import_masks(project, tmp_path / "new")
    monkeypatch.setattr(LabelGeneration, "write", original)
    assert (project / STATE_FILE).read_bytes() == state
    assert sorted(labels_of(project)) == sorted(old)
    assert Project.load(project).leftovers() == [] and stray_files(project) == []

    # SIGKILL after the 5th new mask is written
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(project), str(tmp_path / "new")],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (project / STATE_FILE).read_bytes() == state
    labels = labels_of(project)
    assert sorted(labels) == sorted(old)
    for stem, ids in old.items():
        np.testing.assert_array_equal(labels[stem], ids)  # no mix of old and new
    assert [p.name for p in Project.load(project).leftovers()] == ["gen_2"]
    shown = alseg_in_process(
        "status", str(project), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert "an interrupted command left labels/gen_2" in shown.stdout

    # the next command cleans up, and says so
    done = alseg_in_process(
        "import",
        str(project),
        "--masks",
        str(tmp_path / "new"),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert done.returncode == 0, done.stderr
    assert "removed what an interrupted command left: labels/gen_2" in done.stdout
    assert "imported 10 new masks, replaced 20" in done.stdout
    labels = labels_of(project)
    assert sorted(labels) == sorted(new)
    for stem, ids in new.items():
        np.testing.assert_array_equal(labels[stem], ids)
    assert Project.load(project).leftovers() == [] and stray_files(project) == []
    assert sorted(p.name for p in (project / "labels").iterdir()) == ["gen_2"]


def test_select_killed_before_its_state_write_leaves_no_round(tmp_path, data, monkeypatch):
    project = new_project(tmp_path, data)
    state = (project / STATE_FILE).read_bytes()
    real_save = Project.save

    def crash(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Project, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        select(project, 3, strategy="random", device="cpu")
    monkeypatch.setattr(Project, "save", real_save)
    assert (project / STATE_FILE).read_bytes() == state
    assert list((project / "rounds").iterdir()) == []

    # a SIGKILL in the same window: the round folder in place, the state not naming it
    (project / "rounds" / "round_1").mkdir()
    (project / "rounds" / "round_1" / "manifest.csv").write_text("rank\n")
    (project / "rounds" / ".round_1.x1y2").mkdir()
    (project / f".{STATE_FILE}.abc.tmp").write_text("{")
    assert status(project)["leftovers"] == [
        "rounds/.round_1.x1y2",
        "rounds/round_1",
        f".{STATE_FILE}.abc.tmp",
    ]
    result = select(project, 3, strategy="random", device="cpu")
    assert result.round == 1
    assert sorted(result.cleaned) == sorted(
        ["rounds/.round_1.x1y2", "rounds/round_1", f".{STATE_FILE}.abc.tmp"]
    )
    assert (result.folder / "manifest.json").is_file() and stray_files(project) == []
    assert status(project)["leftovers"] == []


def test_a_second_writer_is_refused(tmp_path, data):
    project = new_project(tmp_path, data)
    write_masks(tmp_path / "m", STEMS[:2], seed=0)
    with project_lock(project), pytest.raises(ConfigError, match="another alseg command"):
        import_masks(project, tmp_path / "m")
    assert import_masks(project, tmp_path / "m").labeled_total == 2


def test_status_and_release(tmp_path, data):
    project = new_project(tmp_path, data)
    first = select(project, 4, strategy="random", device="cpu")
    picked = [Path(p.image).stem for p in first.picks]
    report = status(project)
    assert (report["labeled"], report["pending"], report["images"]) == (0, 4, len(STEMS))
    assert "annotate the 4 images of round 1" in report["next"]
    write_masks(tmp_path / "back", picked[:2], seed=0)
    import_masks(project, tmp_path / "back")
    row = status(project)["rounds"][0]
    assert (row["sent"], row["returned"], row["pending"], row["released"]) == (4, 2, 2, 0)

    with pytest.raises(ConfigError, match=r"no round 7 in .* \(rounds: 1\)"):
        release(project, 7)
    with pytest.raises(ConfigError, match=f"image '{picked[0]}' is not out for annotation"):
        release(project, 1, [picked[0]])
    assert release(project, 1, [f"{picked[2]}.png"]) == [picked[2]]
    assert release(project, 1) == [picked[3]]
    assert release(project, 1) == []
    row = status(project)["rounds"][0]
    assert (row["pending"], row["released"]) == (0, 2)
    assert "select" in status(project)["next"]
    # released images are candidates again: all 34 unlabeled images can be picked
    again = select(project, len(STEMS) - 2, strategy="random", device="cpu")
    assert {picked[2], picked[3]} <= {Path(p.image).stem for p in again.picks}


def test_a_version_1_project_moves_to_generations(tmp_path, data):
    old = write_masks(tmp_path / "old", STEMS[:3], seed=1)
    project = new_project(tmp_path, data, tmp_path / "old")
    # rewrite it as version 1 wrote it: labels flat in labels/
    state = json.loads((project / STATE_FILE).read_text())
    for stem in old:
        shutil.move(project / "labels" / "gen_1" / f"{stem}.png", project / "labels")
    (project / "labels" / "gen_1").rmdir()
    del state["label_generation"]
    state["version"] = 1
    (project / STATE_FILE).write_text(json.dumps(state))
    assert labels_of(project).keys() == old.keys()
    new = write_masks(tmp_path / "new", STEMS[3:4], seed=2)
    import_masks(project, tmp_path / "new")
    state = json.loads((project / STATE_FILE).read_text())
    assert (state["version"], state["label_generation"]) == (2, 1)
    assert sorted(p.name for p in (project / "labels").iterdir()) == ["gen_1"]
    labels = labels_of(project)
    for stem, ids in {**old, **new}.items():
        np.testing.assert_array_equal(labels[stem], ids)


# --- the quality estimate's split --------------------------------------------------------------


def test_estimate_plans():
    rng = np.random.default_rng(0)
    assert plan_estimate(["a"], rng) is None
    few = plan_estimate(["a", "a", "b", "c", "c", "c"], rng)
    assert few.method == "k-fold" and few.grouped_by == "sequence" and len(few.held_out) == 3
    assert sorted(np.concatenate(few.held_out).tolist()) == list(range(6))
    assert {tuple(f) for f in few.held_out} >= {(3, 4, 5)}  # a sequence stays in one fold
    single = plan_estimate(["a"] * 5, rng)
    assert single.grouped_by == "image" and sorted(map(len, single.held_out)) == [1, 2, 2]
    sequences = [f"s{i // 4}" for i in range(HOLDOUT_FROM + 10)]  # 10 sequences of 4
    many = plan_estimate(sequences, rng)
    assert many.method == "held-out" and many.grouped_by == "sequence"
    held = many.held_out[0]
    assert len(held) == 8 and len({sequences[i] for i in held}) == 2
    one_big = plan_estimate(["long"] * 40, rng)
    assert one_big.grouped_by == "image" and len(one_big.held_out[0]) == 8
