"""Every command and code block of the README runs as written, at tiny sizes.

The README's bash blocks are parsed (continuation lines joined, comments dropped, ``&&`` chains
split) and each command runs in a scratch folder holding the files the README tells the user to
have (``my_frames/``, ``classes.yaml``, ``my-experiment.yaml``, ``export.zip``, ...). ``alseg``
commands run in this process with their resolved configs shrunk to tiny sizes (32x64 frames, two
training iterations, eight validation images); the commands themselves are the README's. What
cannot run here is checked instead of skipped: ``pip install`` (the extra exists), ``pytest -q``
(``.ci/run`` runs exactly it), ``cvat-cli`` (no CVAT server: the files it names exist and the
round's README.txt gives the same command), a study the README calls large (``--dry-run``
validates its grid), a real dataset this machine lacks (``--data-root /data/a2d2``: the dry run
lists the runs, then exits 2 naming the missing folder). The Python blocks run in a fresh
interpreter, the YAML blocks are read as class lists.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

import alseg.cli.run as cli_run
import alseg.cli.study as cli_study
from alseg.annotation.codec import png_bytes
from alseg.annotation.exports import cvat_labelmap
from alseg.config import ExperimentConfig
from alseg.data.folder import ClassList
from alseg.study.config import StudyConfig
from tests.cli_helpers import REPO, alseg_in_process
from tests.fixtures_data import block_labels, make_folder_tree

pytestmark = pytest.mark.slow

README = REPO / "README.md"
TINY_TRAIN = {"fixed_iterations": 2}
TINY_SIZE = (32, 64)
TINY_VAL = 8
FRAMES = [f"drive_{i:06d}" for i in range(60)] + [f"lane_{i:06d}" for i in range(60)]
IMAGE_SIZE = (32, 32)


def code_blocks(language: str) -> list[str]:
    """The README's fenced blocks of ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def commands(block: str) -> Iterator[tuple[list[str], str]]:
    """The commands of a bash block with the comment of their line: continuations joined,
    ``&&`` split, optional ``[...]`` parts left out."""
    for line in block.replace("\\\n", " ").splitlines():
        comment = re.search(r"\s#(.*)$", line)
        line = re.sub(r"\[--[^\]]*\]", "", line[: comment.start()] if comment else line)
        for part in line.split("&&"):
            if part.strip():
                yield shlex.split(part), comment[1] if comment else ""


def tiny_experiment(config: ExperimentConfig) -> ExperimentConfig:
    values = config.model_dump()
    if values["data"]["name"] == "synthdrive":
        values["data"]["image_size"] = TINY_SIZE
    values["train"].update(TINY_TRAIN)
    values["max_val_images"] = TINY_VAL
    return ExperimentConfig(**values)


def tiny_study(study: StudyConfig) -> StudyConfig:
    base = {key: dict(value) for key, value in study.base.items()}
    if all(pool.dataset == "synthdrive" for pool in study.pools):
        base.setdefault("data", {})["image_size"] = list(TINY_SIZE)
    base.setdefault("train", {}).update(TINY_TRAIN)
    base["max_val_images"] = TINY_VAL
    return study.model_copy(update={"base": base})


@pytest.fixture
def shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """``alseg run`` and ``alseg study`` resolve their configs as usual, then run them tiny."""
    resolve_run, resolve_study = cli_run.experiment_from_options, cli_study.resolve_study
    monkeypatch.setattr(
        cli_run, "experiment_from_options", lambda *a: tiny_experiment(resolve_run(*a))
    )
    monkeypatch.setattr(cli_study, "resolve_study", lambda name: tiny_study(resolve_study(name)))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The files the README's commands expect beside them."""
    make_folder_tree(
        tmp_path / "my_frames", stems={"train": FRAMES}, unlabeled=FRAMES[::2], size=IMAGE_SIZE
    )
    (tmp_path / "classes.yaml").write_text(code_blocks("yaml")[0])
    (tmp_path / "my-experiment.yaml").write_text(
        "strategy: random\nbudget: {initial: 10, step: 10, until: 20}\n"
    )
    make_folder_tree(
        tmp_path / "new", stems={"train": ["new_000001", "new_000002"]}, size=IMAGE_SIZE
    )
    shutil.move(tmp_path / "new" / "images", tmp_path / "new_frames")
    return tmp_path


def write_cvat_export(cwd: Path) -> None:
    """``export.zip`` as CVAT exports the latest round's task: "Segmentation mask 1.1", the
    picked images painted in the class colours, all but five (never annotated: ``release``)."""
    latest = max((cwd / "proj" / "rounds").iterdir(), key=lambda p: int(p.name.split("_")[1]))
    classes = ClassList(cwd / "classes.yaml")
    colours = np.asarray(classes.colors, dtype=np.uint8)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(cwd / "export.zip", "w") as bundle:
        bundle.writestr("labelmap.txt", cvat_labelmap(classes))
        for line in (latest / "cvat" / "images.txt").read_text().splitlines()[:-5]:
            painted = colours[block_labels(rng, IMAGE_SIZE, range(len(colours)))]
            bundle.writestr(f"SegmentationClass/{Path(line).stem}.png", png_bytes(painted))


def run_alseg(args: list[str], cwd: Path, monkeypatch, capsys) -> None:
    result = alseg_in_process(*args, cwd=cwd, monkeypatch=monkeypatch, capsys=capsys)
    shown = f"alseg {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    root = args[args.index("--data-root") + 1] if "--data-root" in args else None
    if root is not None and not (cwd / root).exists():
        # real data this machine lacks: the runs are listed, then one line names what is missing
        assert result.returncode == 2, shown
        assert f"data root {root} (not a folder)" in result.stderr and "runs" in result.stdout
        return
    assert result.returncode == 0, shown


def run_command(args: list[str], cwd: Path, monkeypatch, capsys, large: bool) -> Path:
    """Run (or check) one README command; returns the working folder after it."""
    program, rest = args[0], args[1:]
    if program == "pip":
        extras = re.search(r"\[(\w+)\]", " ".join(rest))
        assert extras and f"\n{extras[1]} = [" in (REPO / "pyproject.toml").read_text()
    elif program == "pytest":
        pass  # this suite: test_ci_runs_the_readme_test_command checks .ci/run runs it
    elif program == "cd":
        cwd = cwd / rest[0]
        assert cwd.is_dir(), f"cd {rest[0]}: no such folder"
    elif program == "cvat-cli":
        named = [a for a in rest if a.endswith((".json", ".zip"))] + ["images.txt"]
        assert all((cwd / name).is_file() for name in named), named
        assert "cvat-cli task create" in (cwd / "README.txt").read_text()
    elif program == "alseg":
        if large:
            rest = [*rest, "--dry-run"]
        if rest[:2] == ["import", "proj"] and rest[-1] == "export.zip":
            write_cvat_export(cwd)
        run_alseg(rest, cwd, monkeypatch, capsys)
    else:
        raise AssertionError(f"the README runs {program!r}, which this test does not know")
    return cwd


def test_every_bash_block_runs_as_written(workspace, shrunk, monkeypatch, capsys):
    ran = []
    for block in code_blocks("bash"):
        cwd = workspace
        for args, comment in commands(block):
            cwd = run_command(args, cwd, monkeypatch, capsys, large="(large)" in comment)
            ran.append(args[:2])
    assert ["alseg", "run"] in ran and ["alseg", "select"] in ran and ["cvat-cli", "task"] in ran


def test_ci_runs_the_readme_test_command():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Run the tests:\n\n```bash\n(.*?)\n```", text, flags=re.DOTALL)
    assert block and "pytest" in block[1]
    assert block[1] in (REPO / ".ci" / "run").read_text().splitlines()


def test_python_blocks_run(tmp_path):
    code = "\n".join(code_blocks("python")) + "\nassert len(picks) == 20\n"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_yaml_blocks_are_class_lists(tmp_path):
    blocks = code_blocks("yaml")
    assert len(blocks) == 2
    for number, block in enumerate(blocks):
        path = tmp_path / f"classes{number}.yaml"
        path.write_text(block)
        classes = ClassList(path)
        assert classes.names and len(classes.ids) == len(classes.colors)
    assert ClassList(tmp_path / "classes1.yaml").ignore_color == (0, 0, 0)
    assert yaml.safe_load(blocks[0])[0]["name"] == "road"
