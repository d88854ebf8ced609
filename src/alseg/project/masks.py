"""Creating a project and importing returned masks, validated all-or-nothing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alseg.annotation import MaskCodec, returned_masks
from alseg.annotation.sources import Returned
from alseg.config import TrainConfig, build
from alseg.data.folder import ClassList
from alseg.errors import ConfigError, DataError
from alseg.io import atomic_write_bytes
from alseg.models.deeplab import DEFAULT_ENCODER
from alseg.neighbours import NEAR_DUPLICATE_FRACTION
from alseg.project.images import default_working_size, image_size, list_images
from alseg.project.labels import Accepted, LabelGeneration, validate_into
from alseg.project.state import (
    CLASSES_FILE,
    STATE_FILE,
    STATE_FORMAT,
    STATE_VERSION,
    Project,
    now,
    path_record,
)


def init_project(
    directory: Path | str,
    images: Path | str,
    classes_yaml: Path | str,
    masks: Path | str | None = None,
    *,
    working_size: tuple[int, int] | None = None,
    epochs: float = 20.0,
    min_iterations: int = 100,
    batch_size: int = 4,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
) -> Project:
    """Create project ``directory`` over the images folder ``images`` with the classes of
    ``classes_yaml``; masks in ``masks`` (matched by stem, validated all-or-nothing as in
    ``import_masks``) make their images labeled. ``working_size`` (H, W) is the size images are
    resized to for training and scoring (default: ``default_working_size``). Training runs
    ``epochs`` x labeled / ``batch_size`` iterations, at least ``min_iterations``."""
    directory, images_path = Path(directory), Path(images)
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    if (directory / STATE_FILE).exists():
        raise ConfigError(f"{directory} is already an alseg project ({STATE_FILE} exists)")
    if not images_path.is_dir():
        raise DataError(f"images folder {images_path} does not exist or is not a folder")
    classes_path = Path(classes_yaml)
    classes = ClassList(classes_path)
    image_files = list_images(images_path)
    if working_size is None:
        working_size = default_working_size([image_size(p) for p in image_files])
    elif min(working_size) < 16:
        raise ConfigError(
            f"working size {working_size[0]} x {working_size[1]} too small: both sides must "
            "be >= 16"
        )
    train = build(TrainConfig, epochs=epochs, min_iterations=min_iterations, batch_size=batch_size)
    project = Project(
        directory,
        {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "created": now(),
            "images": path_record(images_path, str(images), directory),
            "classes": {
                "file": CLASSES_FILE,
                "source": str(classes_path.resolve()),
                "names": classes.names,
                "ids": classes.ids,
                "colors": [list(c) for c in classes.colors],
                "ignore_color": list(classes.ignore_color) if classes.ignore_color else None,
            },
            "label_generation": 0,
            "labeled": [],
            "rounds": [],
            "imports": [],
            "settings": {
                "working_size": list(working_size) if working_size else None,
                "encoder": encoder,
                "epochs": train.epochs,
                "min_iterations": train.min_iterations,
                "batch_size": train.batch_size,
                "seed": seed,
                "near_duplicate_fraction": NEAR_DUPLICATE_FRACTION,
            },
        },
    )
    if masks is None:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(directory / CLASSES_FILE, classes_path.read_bytes())
        project.save()
        return project
    created = not directory.exists()
    stems = {p.stem: p for p in image_files}
    try:
        with returned_masks(Path(masks), classes, stems) as returned:
            generation = LabelGeneration(project)
            accepted = _validate(returned, stems, MaskCodec(classes), generation)
        generation.commit(accepted.stems)
        atomic_write_bytes(directory / CLASSES_FILE, classes_path.read_bytes())
        project.state["imports"].append(_import_record(masks, accepted))
        project.state["labeled"] = sorted(accepted.stems)
        project.save()
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return project


def _validate(
    returned: Returned, images: dict[str, Path], codec: MaskCodec, generation: LabelGeneration
) -> Accepted:
    """``validate_into`` the new generation, discarding it when anything is bad."""
    try:
        return validate_into(returned, images, codec, generation)
    except BaseException:
        generation.discard()
        raise


@dataclass(frozen=True)
class ImportResult:
    """Stems newly labeled, re-imported (replacing a mask), skipped (no labelled pixel) and the
    images of tasks in a Label Studio export nobody annotated; what an interrupted command had
    left behind and this one removed."""

    imported: list[str]
    updated: list[str]
    skipped: list[str]
    labeled_total: int
    not_annotated: list[str]
    cleaned: list[str]


def _import_record(source: Path | str, accepted: Accepted) -> dict[str, Any]:
    return {
        "created": now(),
        "source": str(Path(source).resolve()),
        "images": accepted.stems,
        "skipped": accepted.skipped,
        "not_annotated": accepted.not_annotated,
    }


def import_masks(directory: Path | str, masks_path: Path | str) -> ImportResult:
    """Import returned masks into the project, matched by image file stem (images of a round,
    any other unlabeled image, or a labeled one to replace its mask). ``masks_path`` is

    * a .png or a folder of them: index PNGs (class ids of classes.yaml, 255 = ignore) or colour
      PNGs (class colours, ignore_color);
    * a CVAT "Segmentation mask 1.1" export (folder or .zip): its SegmentationClass/ masks, the
      colours mapped to the classes by the label names of its labelmap.txt ("background", the
      colour of unannotated pixels, reads as ignore unless a class is named background);
    * a Label Studio JSON export (.json): see ``alseg.annotation.labelstudio``.

    Every mask is validated first: a mask without an image of its stem, of another size than
    its image, or with an id, colour or label outside the class list raises one DataError
    naming the file (or task) and the bad value, and nothing is imported. Masks without any
    labelled pixel are skipped (annotation tools export untouched images that way). The masks
    are written as index PNGs into a new labels generation, which the atomic state write makes
    current: an import killed at any point leaves the previous labels and state in force, and
    the next command removes its partial generation."""
    with Project.updating(directory) as project:
        classes = project.class_list()
        images = {p.stem: p for p in list_images(project.images_dir)}
        before = project.labeled
        with returned_masks(Path(masks_path), classes, images) as returned:
            generation = LabelGeneration(project)
            accepted = _validate(returned, images, MaskCodec(classes), generation)
        generation.commit(before)
        project.state["labeled"] = sorted(before | set(accepted.stems))
        project.state["imports"].append(_import_record(masks_path, accepted))
        project.save()
        project.clean_up()  # the previous generation
    return ImportResult(
        imported=[s for s in accepted.stems if s not in before],
        updated=[s for s in accepted.stems if s in before],
        skipped=accepted.skipped,
        labeled_total=len(project.state["labeled"]),
        not_annotated=accepted.not_annotated,
        cleaned=project.cleaned,
    )
