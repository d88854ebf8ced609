"""Round folders: the manifest and the annotation-tool exports of one selection."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from alseg.advise import Advice
from alseg.annotation import (
    Pick,
    write_contact_sheet,
    write_cvat,
    write_label_studio,
    write_manifest,
)
from alseg.errors import DataError
from alseg.io import staging_folder
from alseg.project.state import ROUNDS_DIR, Project, now


def write_round(
    project: Project,
    round_number: int,
    strategy: str,
    picks: list[Pick],
    advice: Advice | None,
    note: str,
) -> Path:
    """Write the round folder in a temporary folder and rename it into place."""
    rounds = project.directory / ROUNDS_DIR
    final = rounds / f"round_{round_number}"
    if final.exists():
        raise DataError(
            f"{final} exists but the project state does not list it (an interrupted select?); "
            "remove it and select again"
        )
    staging = staging_folder(rounds, f".round_{round_number}.")
    try:
        classes = project.class_list()
        name = f"{project.directory.resolve().name} round {round_number}"
        write_manifest(staging, round_number, now(), strategy, picks, advice, note)
        project_dir = project.directory.resolve()
        write_cvat(staging / "cvat", name, classes, picks, project_dir)
        write_label_studio(
            staging / "label_studio", project.images_dir, classes, picks, project_dir
        )
        write_contact_sheet(staging, name, strategy, picks)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
