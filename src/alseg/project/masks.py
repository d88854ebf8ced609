"""Creating a project and importing returned masks, validated all-or-nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alseg.annotation import (
    MaskCodec,
    mask_source,
    no_masks,
    save_id_png,
)
from alseg.config import TrainConfig, build
from alseg.data.base import IGNORE_INDEX
from alseg.data.folder import ClassList
from alseg.data.imageio import open_image
from alseg.errors import ConfigError, DataError
from alseg.io import atomic_write_bytes
from alseg.models.deeplab import DEFAULT_ENCODER
from alseg.neighbours import NEAR_DUPLICATE_FRACTION
from alseg.project.images import default_working_size, image_size, list_images
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
    resized to for training and scoring (default: ``default_working_size``)."""
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
        raise ConfigError(f"working size {working_size} too small: both sides must be >= 16")
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
    by_stem = {p.stem: p for p in image_files}
    mask_files = mask_source(Path(masks)) if masks is not None else no_masks()
    with mask_files as source:
        codec = source.codec(classes)
        accepted, skipped = _validate_masks(source.files, by_stem, codec)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(directory / CLASSES_FILE, classes_path.read_bytes())
        _write_labels(project, accepted, codec)
    if masks is not None:
        project.state["imports"].append(_import_record(masks, accepted, skipped))
    project.state["labeled"] = sorted(stem for stem, _ in accepted)
    project.save()
    return project


@dataclass(frozen=True)
class ImportResult:
    """Stems newly labeled, re-imported (replacing a mask) and skipped (no labelled pixel)."""

    imported: list[str]
    updated: list[str]
    skipped: list[str]
    labeled_total: int


def _validate_masks(
    files: Sequence[Path], images: dict[str, Path], codec: MaskCodec
) -> tuple[list[tuple[str, Path]], list[str]]:
    """Check every mask (image of that stem, same size, known ids/colours); raise one DataError
    naming the first bad file (and how many more) before anything is written. Returns the masks
    to import and the stems skipped because their mask has no labelled pixel."""
    problems: list[str] = []
    accepted: list[tuple[str, Path]] = []
    skipped: list[str] = []
    seen: dict[str, Path] = {}
    for path in files:
        stem = path.stem
        if stem in seen:
            problems.append(f"{path}: a second mask for image {stem!r} (also {seen[stem]})")
            continue
        seen[stem] = path
        if stem not in images:
            problems.append(f"{path}: no image named {stem!r} in the project's images folder")
            continue
        try:
            img = open_image(path)
            height, width = image_size(images[stem])
            if img.size != (width, height):
                raise DataError(
                    f"{path}: size {img.size[0]}x{img.size[1]} differs from its image "
                    f"{images[stem].name} ({width}x{height})"
                )
            indices = codec.decode_image(img, path)
        except DataError as error:
            problems.append(str(error))
            continue
        if (indices == IGNORE_INDEX).all():
            skipped.append(stem)
        else:
            accepted.append((stem, path))
    if problems:
        more = f" (and {len(problems) - 1} more bad masks)" if len(problems) > 1 else ""
        raise DataError(f"{problems[0]}{more}; nothing imported")
    return accepted, skipped


def _write_labels(project: Project, accepted: Sequence[tuple[str, Path]], codec: MaskCodec) -> None:
    for stem, path in accepted:
        save_id_png(project.label_path(stem), codec.encode(codec.decode(path)))


def _import_record(source: Path | str, accepted: Sequence[tuple[str, Path]], skipped: list[str]):
    return {
        "created": now(),
        "source": str(Path(source).resolve()),
        "images": [stem for stem, _ in accepted],
        "skipped": skipped,
    }


def import_masks(directory: Path | str, masks_path: Path | str) -> ImportResult:
    """Import returned masks into the project: index PNGs (class ids of classes.yaml, 255 =
    ignore) or colour PNGs (class colours, ignore_color), matched by file stem to the project's
    images (those of the latest round, any other unlabeled image, or a labeled one to replace
    its mask). ``masks_path`` is a .png, a folder of them, or a CVAT "Segmentation mask 1.1"
    export (folder or .zip; its SegmentationClass/ masks are used, and the "background" colour
    of its labelmap.txt, black, reads as ignore unless a class is named background).

    Every mask is validated first: a mask without an image of its stem, of another size than
    its image, or with an id or colour outside the class list raises one DataError naming the
    file and the bad value, and nothing is imported. Masks without any labelled pixel are
    skipped (annotation tools export untouched images that way). Then the masks are written to
    labels/ as index PNGs and the state is updated."""
    project = Project.load(directory)
    classes = project.class_list()
    images = {p.stem: p for p in list_images(project.images_dir)}
    before = project.labeled
    with mask_source(Path(masks_path)) as source:
        codec = source.codec(classes)
        accepted, skipped = _validate_masks(source.files, images, codec)
        _write_labels(project, accepted, codec)
    stems = [stem for stem, _ in accepted]
    project.state["labeled"] = sorted(before | set(stems))
    project.state["imports"].append(_import_record(masks_path, accepted, skipped))
    project.save()
    return ImportResult(
        imported=[s for s in stems if s not in before],
        updated=[s for s in stems if s in before],
        skipped=skipped,
        labeled_total=len(project.state["labeled"]),
    )
