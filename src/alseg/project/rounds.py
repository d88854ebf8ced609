"""Round folders: the manifest, the round model, its predictions and the annotation-tool
exports of one selection."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from alseg.advise import Advice
from alseg.annotation import (
    Pick,
    Prediction,
    Predictions,
    png_bytes,
    write_contact_sheet,
    write_cvat,
    write_label_studio,
    write_manifest,
    write_synced,
)
from alseg.errors import DataError
from alseg.io import staging_folder
from alseg.project.model import MODEL_FILE, RoundModel
from alseg.project.state import ROUNDS_DIR, Project, now

PREDICTIONS_DIR = "predictions"


def predict_picks(
    project: Project,
    model: RoundModel,
    picks: list[Pick],
    folder: Path,
    device: torch.device,
    report: Callable[[str, int, int], None],
    model_version: str,
) -> Predictions:
    """The model's masks of the picks as class-id PNGs in ``folder``, with their confidence."""
    folder.mkdir()
    codec = project.codec()
    by_path = {Path(p.path): p.image for p in picks}
    made = {}
    batch = max(1, int(project.settings["batch_size"]))
    for path, indices, confidence in model.predict(
        list(by_path), device, batch, lambda done, total: report("predicting", done, total)
    ):
        target = folder / f"{path.stem}.png"
        write_synced(target, png_bytes(codec.encode(indices)))
        made[by_path[path]] = Prediction(target, confidence)
    return Predictions(made, model_version, codec)


def write_round(
    project: Project,
    round_number: int,
    strategy: str,
    picks: list[Pick],
    advice: Advice | None,
    note: str,
    model: RoundModel | None,
    device: torch.device,
    report: Callable[[str, int, int], None],
) -> Path:
    """Write the round folder in a staging folder and rename it into place (the caller's state
    write then commits it; until then the next command removes it as a leftover)."""
    rounds = project.directory / ROUNDS_DIR
    final = rounds / f"round_{round_number}"
    if final.exists():
        raise DataError(f"{final} exists but the project state does not list it; remove it")
    staging = staging_folder(rounds, f".round_{round_number}.")
    try:
        classes = project.class_list()
        name = f"{project.directory.resolve().name} round {round_number}"
        predictions = None
        summary = None
        if model is not None:
            model.save(staging / MODEL_FILE)
            version = f"alseg round {round_number} ({strategy})"
            predictions = predict_picks(
                project, model, picks, staging / PREDICTIONS_DIR, device, report, version
            )
            summary = {
                "file": MODEL_FILE,
                "model_version": version,
                **{k: model.record[k] for k in ("encoder", "working_size", "iterations")},
                "trained_on": model.record["trained_on"],
                "quality": model.record["quality"],
                "predictions": PREDICTIONS_DIR,
            }
            (staging / "model.json").write_text(
                json.dumps(summary, indent=2) + "\n", encoding="utf-8"
            )
        if summary is not None:
            summary = {**summary, "trained_on": len(summary["trained_on"])}
        write_manifest(staging, round_number, now(), strategy, picks, advice, note, summary)
        project_dir = project.directory.resolve()
        write_cvat(staging / "cvat", name, classes, picks, project_dir, predictions)
        write_label_studio(
            staging / "label_studio", project.images_dir, classes, picks, project_dir, predictions
        )
        write_contact_sheet(staging, name, strategy, picks)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
