"""``predict``: masks of any images with a round's model."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alseg.annotation import png_bytes
from alseg.data.imageio import IMAGE_SUFFIXES, list_files
from alseg.devices import resolve_device
from alseg.errors import ConfigError, DataError
from alseg.io import atomic_write_bytes
from alseg.project.images import list_images
from alseg.project.model import RoundModel
from alseg.project.state import Project

PREDICTIONS_DIR = "predictions"


@dataclass(frozen=True)
class PredictResult:
    """The round whose model predicted, where the masks went, how many, their mean confidence."""

    round: int
    out: Path
    count: int
    mean_confidence: float


def model_round(project: Project, round_number: int | None) -> dict:
    """The round record of ``round_number`` (default: the latest round with a model)."""
    with_model = [r for r in project.rounds if r.get("model")]
    if round_number is None:
        if not with_model:
            raise ConfigError(
                f"no round of project {project.directory} has a model yet (select trains one "
                "once images are labeled: import masks, then select)"
            )
        return with_model[-1]
    record = next((r for r in project.rounds if r["round"] == round_number), None)
    if record is None or not record.get("model"):
        rounds = ", ".join(str(r["round"]) for r in with_model) or "none"
        raise ConfigError(f"round {round_number} has no model; rounds with one: {rounds}")
    return record


def _images(project: Project, given: Sequence[Path] | None) -> list[Path]:
    """The images to predict: ``given`` files or folders (a bare name is looked up in the
    project's images folder), default the project's unlabeled images."""
    if given is None:
        labeled = project.labeled
        found = [p for p in list_images(project.images_dir) if p.stem not in labeled]
        if not found:
            raise ConfigError("every image of the project is labeled; give --images")
        return found
    found = []
    for path in given:
        if not path.exists() and (project.images_dir / path).exists():
            path = project.images_dir / path
        if path.is_dir():
            found += list_files(path)
        elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
        else:
            raise DataError(f"{path}: not an image file (.png, .jpg) or a folder of them")
    stems = Counter(p.stem for p in found)
    twice = next((p for p in found if stems[p.stem] > 1), None)
    if twice is not None:
        raise DataError(f"{twice}: a second image named {twice.stem!r} (masks are named by stem)")
    if not found:
        raise DataError("no .png/.jpg images in the given --images")
    return found


def predict(
    directory: Path | str,
    images: Sequence[Path] | None = None,
    round_number: int | None = None,
    out: Path | None = None,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> PredictResult:
    """Write the masks a round's model predicts for ``images`` (default: the unlabeled images of
    the project) to ``out`` (default ``predictions/round_K/`` in the project): ``masks/`` index
    PNGs of classes.yaml ids, importable as they are, ``preview/`` the same in the class
    colours, and ``confidence.csv`` (image, mean top class probability)."""
    project = Project.load(directory)
    record = model_round(project, round_number)
    model = RoundModel.load(project.directory / record["model"])
    paths = _images(project, images)
    target = out or project.directory / PREDICTIONS_DIR / f"round_{record['round']}"
    codec = project.codec()
    report = progress or (lambda phase, done, total: None)
    rows = []
    for path, indices, confidence in model.predict(
        paths,
        resolve_device(device),
        max(1, int(project.settings["batch_size"])),
        lambda done, total: report("predicting", done, total),
    ):
        atomic_write_bytes(target / "masks" / f"{path.stem}.png", png_bytes(codec.encode(indices)))
        preview = png_bytes(codec.paint(indices))
        atomic_write_bytes(target / "preview" / f"{path.stem}.png", preview)
        rows.append({"image": str(path), "confidence": round(confidence, 6)})
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=["image", "confidence"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(target / "confidence.csv", table.getvalue().encode("utf-8"))
    mean = sum(r["confidence"] for r in rows) / len(rows)
    return PredictResult(record["round"], target, len(rows), mean)
