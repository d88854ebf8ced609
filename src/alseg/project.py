"""Active learning on the user's own images: pick what to annotate, export it, import the masks.

A project folder ``DIR`` holds::

    alseg-project.json   the state: images folder, classes, labeled images, rounds, settings
    classes.yaml         a copy of the class list (folder-dataset format, see alseg.data.folder)
    labels/{stem}.png    imported masks as index PNGs of the class ids in classes.yaml
    rounds/round_K/      one folder per selection (see ``select``)

The images stay where they are. The state stores the images folder three ways: as given, absolute,
and relative to ``DIR``; commands look for it relative to ``DIR`` first (so a project moved
together with its images, or synced to another machine with the same layout, keeps working), then
at the absolute path. Labels, classes and rounds live inside ``DIR``. Images are keyed by file
stem, which must be unique in the images folder. Images added to the folder later join the pool.

Round trip: ``init_project`` -> ``select`` (writes round K) -> annotate -> ``import_masks`` ->
``select`` (trains on the labeled images) -> ... Every command writes the state file last and
atomically (temporary file + rename), after everything else it produces is complete, so an
interrupted command leaves the previous state in force.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np
import torch
from PIL import Image

from alseg.acquisition.base import PoolView, Strategy
from alseg.acquisition.inference import infer_pool
from alseg.acquisition.strategies import STRATEGIES, get_strategy
from alseg.advise import Advice, advise, budget_regime, typical_distance
from alseg.config import SSLConfig, TrainConfig, build
from alseg.data.base import IGNORE_INDEX, FrameMeta, SegDataset, SubsetDataset
from alseg.data.folder import MAX_ID, ClassList, sequence_and_frame
from alseg.data.imageio import (
    COLOR_MODES,
    INDEX_MODES,
    ColorTable,
    FilePair,
    FilePairDataset,
    list_files,
    open_image,
    read_rgb,
    unknown_colors,
)
from alseg.embeddings import (
    IMAGENET_NEAR_DUPLICATE_FRACTION,
    dataset_redundancy,
    imagenet_model,
    pool_embeddings,
    resized,
    sequence_positions,
)
from alseg.errors import ConfigError, DataError, unknown_name
from alseg.loop import cycle_seed, resolve_device
from alseg.models import SegmentationModel, build_model
from alseg.models.deeplab import DEFAULT_ENCODER
from alseg.results import atomic_write_bytes
from alseg.train import fit

STATE_FILE = "alseg-project.json"
STATE_FORMAT = "alseg-project"
STATE_VERSION = 1
CLASSES_FILE = "classes.yaml"
LABELS_DIR = "labels"
ROUNDS_DIR = "rounds"
#: Images whose longer side exceeds this are resized for training and scoring.
MAX_NATIVE_SIDE = 256
#: Strategies that need no trained model: the only ones possible before any image is labeled.
UNTRAINED_OK = tuple(sorted(n for n, s in STRATEGIES.items() if s.needs <= {"embedding"}))
THUMBNAIL_SIZE = (256, 256)

#: Progress callback: (phase, done, total).
Progress = Callable[[str, int, int], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- masks ---------------------------------------------------------------------------------------


class MaskCodec:
    """Masks by the class list: colour or id PNGs -> class indices 0..C-1 (255 ignore) and back."""

    def __init__(self, classes: ClassList) -> None:
        self.names = tuple(classes.names)
        self.ids = tuple(classes.ids)
        self.colors = tuple(classes.colors)
        self.lut = np.full(MAX_ID + 1, -1, dtype=np.int64)
        self.lut[list(self.ids)] = np.arange(len(self.ids))
        self.lut[IGNORE_INDEX] = IGNORE_INDEX
        colors, values = list(classes.colors), list(range(len(classes.colors)))
        if classes.ignore_color is not None:
            colors.append(classes.ignore_color)
            values.append(IGNORE_INDEX)
        self.table = ColorTable(colors, values)
        self.id_values = np.asarray([*self.ids, IGNORE_INDEX], dtype=np.int64)
        self.id_dtype = np.uint8 if max(self.ids) <= 255 else np.uint16

    def decode(self, path: Path) -> np.ndarray:
        """Class indices (int64 HxW) of a mask file; DataError for unknown ids, colours, modes."""
        return self.decode_image(open_image(path), path)

    def decode_image(self, img: Image.Image, path: Path) -> np.ndarray:
        if img.mode in COLOR_MODES:
            rgb = np.asarray(img)[..., :3]
            indices, unknown = self.table.decode(rgb)
            if unknown.any():
                colors = [list(c) for c in list(unknown_colors(rgb, unknown))[:5]]
                raise DataError(
                    f"{path}: colours {colors} are not in the class list (allowed: "
                    f"{[list(c) for c in self.colors]}; unlabelled pixels need an ignore_color)"
                )
            return indices
        if img.mode not in INDEX_MODES:
            raise DataError(
                f"{path}: mask mode {img.mode} is neither a class-id image (L, P, I;16) nor a "
                "colour image (RGB, RGBA)"
            )
        raw = np.asarray(img).astype(np.int64)
        valid = (raw >= 0) & (raw <= MAX_ID)
        indices = np.where(valid, self.lut[np.where(valid, raw, 0)], -1)
        if (indices < 0).any():
            bad = np.unique(raw[indices < 0])[:10].tolist()
            raise DataError(
                f"{path}: class ids {bad} are not in the class list (allowed: "
                f"{sorted(self.ids)}, {IGNORE_INDEX} = ignore)"
            )
        return indices

    def encode(self, indices: np.ndarray) -> np.ndarray:
        """Class ids of classes.yaml (uint8, or uint16 when an id exceeds 255) for indices."""
        positions = np.where(indices == IGNORE_INDEX, len(self.ids), indices)
        return self.id_values[positions].astype(self.id_dtype)


def save_id_png(path: Path, ids: np.ndarray) -> None:
    """Write class ids as a single-channel PNG (L, or I;16 for uint16), atomically."""
    buffer = io.BytesIO()
    Image.fromarray(ids).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


# --- images ---------------------------------------------------------------------------------------


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (not recursive), sorted; DataError for none or repeated stems."""
    images = list_files(folder)
    if not images:
        raise DataError(f"no .png/.jpg images in {folder}")
    stems = Counter(p.stem for p in images)
    repeated = next((p for p in images if stems[p.stem] > 1), None)
    if repeated is not None:
        raise DataError(f"{repeated}: a second image named {repeated.stem!r} (one per file stem)")
    return images


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header."""
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc


class ImageFolderDataset(FilePairDataset):
    """Images of a folder; masks from ``masks`` (stem -> file), decoded by ``codec``. Sequence and
    frame come from ``{sequence}_{digits}`` file stems (any other stem is its own sequence)."""

    name = "images"

    def __init__(
        self,
        images: Sequence[Path],
        source: Path,
        codec: MaskCodec | None = None,
        masks: dict[str, Path] | None = None,
    ) -> None:
        self.codec = codec
        self.class_names = codec.names if codec else ("image",)
        self.class_colors = codec.colors if codec else None
        masks = masks or {}
        pairs = []
        for image in images:
            sequence, frame = sequence_and_frame(image.stem)
            meta = FrameMeta(sequence=sequence, frame=frame, path=str(image))
            pairs.append(FilePair(image, masks.get(image.stem), meta))
        super().__init__(pairs, source)

    def read_mask(self, path: Path) -> np.ndarray:
        if self.codec is None:
            raise DataError(f"{path}: masks need a class list")
        return self.codec.decode(path)


def default_working_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """None (native) when all images share one size within MAX_NATIVE_SIDE; otherwise the most
    common size scaled to a longer side of MAX_NATIVE_SIDE, both sides multiples of 16."""
    common, _ = Counter(sizes).most_common(1)[0]
    if len(set(sizes)) == 1 and max(common) <= MAX_NATIVE_SIDE:
        return None
    scale = MAX_NATIVE_SIDE / max(common)
    height, width = (max(32, 16 * round(side * scale / 16)) for side in common)
    return height, width


# --- project state --------------------------------------------------------------------------------


def _path_record(path: Path, given: str, directory: Path) -> dict[str, str | None]:
    absolute = path.resolve()
    try:
        relative: str | None = Path(os.path.relpath(absolute, directory.resolve())).as_posix()
    except ValueError:  # another drive (Windows): absolute path only
        relative = None
    return {"given": given, "absolute": str(absolute), "relative": relative}


@dataclass
class Project:
    """A project folder and its state (the parsed ``alseg-project.json``)."""

    directory: Path
    state: dict[str, Any]

    @classmethod
    def load(cls, directory: Path | str) -> Project:
        directory = Path(directory)
        path = directory / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"{directory} is not an alseg project (no {STATE_FILE}); create it with init"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read project state ({exc})") from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise DataError(f"{path}: not an alseg project state file")
        if state.get("version") != STATE_VERSION:
            raise DataError(
                f"{path}: project version {state.get('version')!r}; this alseg reads "
                f"version {STATE_VERSION}"
            )
        return cls(directory, state)

    def save(self) -> None:
        text = json.dumps(self.state, indent=2, sort_keys=False) + "\n"
        atomic_write_bytes(self.directory / STATE_FILE, text.encode("utf-8"))

    @property
    def settings(self) -> dict[str, Any]:
        return self.state["settings"]

    @property
    def labeled(self) -> set[str]:
        return set(self.state["labeled"])

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return self.state["rounds"]

    @property
    def pending(self) -> set[str]:
        """Stems sent out for annotation in a round and not labeled since."""
        sent = {Path(name).stem for r in self.rounds for name in r["images"]}
        return sent - self.labeled

    @property
    def images_dir(self) -> Path:
        """The images folder: relative to the project first, then absolute, then as given."""
        record = self.state["images"]
        tried = []
        if record.get("relative"):
            tried.append(self.directory / record["relative"])
        tried += [Path(record["absolute"]), Path(record["given"])]
        for candidate in tried:
            if candidate.is_dir():
                return candidate
        raise DataError(
            f"images folder of project {self.directory} not found (tried "
            f"{', '.join(str(p) for p in dict.fromkeys(tried))}); move it back or fix "
            f"'images' in {STATE_FILE}"
        )

    def class_list(self) -> ClassList:
        return ClassList(self.directory / CLASSES_FILE)

    def codec(self) -> MaskCodec:
        return MaskCodec(self.class_list())

    def label_path(self, stem: str) -> Path:
        return self.directory / LABELS_DIR / f"{stem}.png"

    def dataset(self) -> ImageFolderDataset:
        """Every image of the images folder, with masks for the labeled ones."""
        images = list_images(self.images_dir)
        stems = {p.stem for p in images}
        missing = sorted(self.labeled - stems)
        if missing:
            raise DataError(
                f"labeled image {missing[0]!r} is no longer in {self.images_dir} "
                f"({len(missing)} missing); put it back or start a new project"
            )
        masks = {stem: self.label_path(stem) for stem in self.labeled}
        return ImageFolderDataset(images, self.images_dir, self.codec(), masks)


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
            "created": _now(),
            "images": _path_record(images_path, str(images), directory),
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
                "near_duplicate_fraction": IMAGENET_NEAR_DUPLICATE_FRACTION,
            },
        },
    )
    codec = MaskCodec(classes)
    by_stem = {p.stem: p for p in image_files}
    mask_files = _mask_files(Path(masks)) if masks is not None else _no_masks()
    with mask_files as files:
        accepted, skipped = _validate_masks(files, by_stem, codec)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(directory / CLASSES_FILE, classes_path.read_bytes())
        _write_labels(project, accepted, codec)
    if masks is not None:
        project.state["imports"].append(_import_record(masks, accepted, skipped))
    project.state["labeled"] = sorted(stem for stem, _ in accepted)
    project.save()
    return project


# --- importing masks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """Stems newly labeled, re-imported (replacing a mask) and skipped (no labelled pixel)."""

    imported: list[str]
    updated: list[str]
    skipped: list[str]
    labeled_total: int


@contextmanager
def _no_masks() -> Iterator[list[Path]]:
    yield []


@contextmanager
def _mask_files(source: Path) -> Iterator[list[Path]]:
    """PNG masks of a file, a folder (its ``SegmentationClass/`` subfolder when present, as in a
    CVAT "Segmentation mask" export) or a .zip of either, extracted to a temporary folder."""
    if source.is_file() and source.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="alseg-masks-") as temporary:
            yield _extract_zip_masks(source, Path(temporary))
        return
    if source.is_file():
        if source.suffix.lower() != ".png":
            raise DataError(f"{source}: masks must be .png files (or a folder or .zip of them)")
        yield [source]
        return
    if not source.is_dir():
        raise DataError(f"masks {source} not found (give a .png, a folder or a .zip)")
    folder = source / "SegmentationClass" if (source / "SegmentationClass").is_dir() else source
    files = list_files(folder, (".png",))
    if not files:
        raise DataError(f"no .png masks in {folder}")
    yield files


def _extract_zip_masks(archive: Path, target: Path) -> list[Path]:
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = [n for n in bundle.namelist() if n.lower().endswith(".png")]
            in_class = [n for n in names if "SegmentationClass/" in n]
            chosen = in_class or [n for n in names if "/" not in n.rstrip("/")]
            if not chosen:
                raise DataError(
                    f"{archive}: no .png masks at the top level or in SegmentationClass/"
                )
            files = []
            for name in chosen:
                path = target / Path(name).name
                if path.exists():
                    raise DataError(f"{archive}: two masks named {path.name}")
                path.write_bytes(bundle.read(name))
                files.append(path)
            return sorted(files)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a readable .zip ({exc})") from exc


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
        "created": _now(),
        "source": str(Path(source).resolve()),
        "images": [stem for stem, _ in accepted],
        "skipped": skipped,
    }


def import_masks(directory: Path | str, masks_path: Path | str) -> ImportResult:
    """Import returned masks into the project: index PNGs (class ids of classes.yaml, 255 =
    ignore) or colour PNGs (class colours, ignore_color), matched by file stem to the project's
    images (those of the latest round, any other unlabeled image, or a labeled one to replace
    its mask). ``masks_path`` is a .png, a folder of them, or a CVAT "Segmentation mask 1.1"
    export (folder or .zip; its SegmentationClass/ masks are used).

    Every mask is validated first: a mask without an image of its stem, of another size than
    its image, or with an id or colour outside the class list raises one DataError naming the
    file and the bad value, and nothing is imported. Masks without any labelled pixel are
    skipped (annotation tools export untouched images that way). Then the masks are written to
    labels/ as index PNGs and the state is updated."""
    project = Project.load(directory)
    codec = project.codec()
    images = {p.stem: p for p in list_images(project.images_dir)}
    before = project.labeled
    with _mask_files(Path(masks_path)) as files:
        accepted, skipped = _validate_masks(files, images, codec)
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


# --- selecting images -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """One selected image: its rank (1 = first pick), file, score (None when the strategy has
    none) and why it was picked."""

    rank: int
    image: str
    path: str
    score: float | None
    reason: str

    def to_dict(self, strategy: str) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "image": self.image,
            "path": self.path,
            "score": self.score,
            "strategy": strategy,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RoundResult:
    """What ``select`` did: the round, its folder, the strategy used and the picks."""

    round: int
    folder: Path
    requested: str
    strategy: str
    picks: list[Pick]
    trained_on: int
    advice: Advice | None
    note: str


SCORE_NAMES = {
    "entropy": "mean pixel entropy",
    "entropy_minmax": "mean pixel entropy (0..255 per image)",
    "equal": "entropy of the image plus its flip",
    "equal_consistency": "flip inconsistency (symmetric KL)",
    "bald": "BALD mutual information",
}


def _score_need(strategy: Strategy) -> str | None:
    names = sorted(strategy.needs - {"embedding"})
    return names[0] if names else None


def _check_strategy(name: str, labeled: int) -> Strategy:
    allowed = ["auto", *STRATEGIES]
    if name not in allowed:
        raise unknown_name("strategy", name, allowed)
    strategy = get_strategy(name)
    if labeled == 0 and name not in UNTRAINED_OK:
        raise ConfigError(
            f"strategy {name!r} needs a model trained on labeled images, but none is labeled "
            f"yet; for the first round use one of: auto, {', '.join(UNTRAINED_OK)}"
        )
    return strategy


def select(
    directory: Path | str,
    budget: int,
    strategy: str = "auto",
    device: str = "auto",
    epochs: float | None = None,
    *,
    progress: Progress | None = None,
) -> RoundResult:
    """Pick ``budget`` images to annotate next and write round K's folder.

    Candidates are the unlabeled images not already sent out in an earlier round (those count
    as covered for batch strategies). With labeled images a fresh model (ImageNet encoder) is
    trained on them first, supervised, images at the working size; strategies that need no
    model (random, uniform) skip that. Before any label only strategies without a trained model
    are possible (random, uniform, coreset and typiclust on ImageNet embeddings); others raise
    ConfigError. ``auto`` measures the pool's redundancy on ImageNet embeddings and follows the
    paper's guide (``alseg.advise``, supervised) for the budget regime of the labeled fraction
    after this round, using coreset when the guide's pick needs a model that does not exist yet.

    Round folder ``rounds/round_K/``: manifest.csv and manifest.json (rank, image, path, score,
    strategy, reason), ``cvat/`` (labels.json, images.txt, task.json, README.txt),
    ``label_studio/`` (tasks.json, config.xml, README.txt), contact_sheet.html with thumbs/.
    """
    project = Project.load(directory)
    report = progress or (lambda phase, done, total: None)
    dataset = project.dataset()
    n = len(dataset)
    stems = [pair.image.stem for pair in dataset.pairs]
    labeled_set, pending_set = project.labeled, project.pending
    labeled = np.asarray([i for i, s in enumerate(stems) if s in labeled_set], dtype=np.int64)
    covered = np.asarray([i for i, s in enumerate(stems) if s in pending_set], dtype=np.int64)
    candidates = np.asarray(
        [i for i, s in enumerate(stems) if s not in labeled_set and s not in pending_set],
        dtype=np.int64,
    )
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ConfigError(f"budget must be a number of images >= 1, got {budget!r}")
    if budget > len(candidates):
        raise ConfigError(
            f"budget {budget} exceeds the {len(candidates)} images left to pick "
            f"({len(labeled)} labeled, {len(covered)} sent out in earlier rounds, of {n})"
        )
    if strategy != "auto":
        _check_strategy(strategy, len(labeled))
    settings = project.settings
    round_number = len(project.rounds) + 1
    seed = int(settings["seed"])
    size = tuple(settings["working_size"]) if settings["working_size"] else None
    work = resized(dataset, size)  # type: ignore[arg-type]
    torch_device = resolve_device(device)
    batch = max(4, 4 * int(settings["batch_size"]))
    results: dict[str, np.ndarray] = {}

    advice, note = None, ""
    chosen = strategy
    if strategy == "auto":
        report("embedding", 0, n)
        results["embedding"] = pool_embeddings(
            work,
            device=torch_device,
            batch_size=batch,
            encoder=settings["encoder"],
            seed=seed,
            on_batch=lambda done, total: report("embedding", done, total),
        )
        redundancy = dataset_redundancy(
            work, results["embedding"], near_duplicate_fraction=settings["near_duplicate_fraction"]
        )
        regime = budget_regime(len(labeled) + len(covered) + budget, n)
        advice = advise(redundancy, regime, ssl=False)
        chosen = advice.recommendation.strategy
        if len(labeled) == 0 and chosen not in UNTRAINED_OK:
            note = (
                f"the guide recommends {chosen}, which needs a trained model; no image is "
                "labeled yet, so this round uses coreset on ImageNet embeddings"
            )
            chosen = "coreset"
    spec = get_strategy(chosen)

    trained_on = len(labeled) if spec.needs else 0
    if spec.needs and (trained_on or "embedding" not in results):
        if trained_on:
            report("training", 0, 1)
        model = _scoring_model(project, work, labeled, spec, epochs, torch_device, round_number)
        report("scoring", 0, n)
        results = infer_pool(
            model,
            work,
            np.arange(n),
            spec.needs | {"embedding"},
            torch_device,
            batch_size=batch,
            seed=cycle_seed(seed, round_number, 2),
            on_batch=lambda done, total: report("scoring", done, total),
        )
    sequences, positions = sequence_positions(dataset)
    view = PoolView(
        labeled=np.concatenate([labeled, covered]),
        unlabeled=candidates,
        sequences=sequences,
        frames=np.asarray(positions, dtype=np.int64),
        results=results,
    )
    rng = np.random.default_rng(cycle_seed(seed, round_number, 3))
    picked = np.asarray(spec.select(view, budget, rng, {}), dtype=np.int64)
    if len(picked) != budget or len(set(picked.tolist())) != budget:
        raise RuntimeError(f"strategy {chosen} returned {len(picked)} picks for a budget {budget}")
    if not np.isin(picked, candidates).all():
        raise RuntimeError(f"strategy {chosen} picked an image that is not a candidate")
    picks = _explain(spec, picked, view, dataset, seed, settings["near_duplicate_fraction"])

    folder = _write_round(project, round_number, chosen, picks, advice, note)
    project.rounds.append(
        {
            "round": round_number,
            "folder": folder.relative_to(project.directory).as_posix(),
            "created": _now(),
            "requested": strategy,
            "strategy": chosen,
            "budget": budget,
            "images": [p.image for p in picks],
            "labeled_before": len(labeled),
            "pool_size": n,
            "trained_on": trained_on,
            "advice": advice.to_dict() if advice else None,
            "note": note,
        }
    )
    try:
        project.save()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return RoundResult(round_number, folder, strategy, chosen, picks, trained_on, advice, note)


def _scoring_model(
    project: Project,
    work: SegDataset,
    labeled: np.ndarray,
    spec: Strategy,
    epochs: float | None,
    device: torch.device,
    round_number: int,
) -> SegmentationModel:
    """A model trained on the labeled images, or the ImageNet-only model when none is labeled."""
    settings = project.settings
    seed = int(settings["seed"])
    if len(labeled) == 0:
        return imagenet_model(work.num_classes, settings["encoder"], seed)
    train = build(
        TrainConfig,
        epochs=settings["epochs"] if epochs is None else epochs,
        min_iterations=settings["min_iterations"],
        batch_size=settings["batch_size"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cycle_seed(seed, round_number, 0))
        model = build_model(
            work.num_classes,
            encoder=settings["encoder"],
            weights="imagenet",
            head_dropout=spec.head_dropout,
        )
    fit(
        model,
        SubsetDataset(work, np.sort(labeled)),
        None,
        train,
        SSLConfig(),
        device,
        cycle_seed(seed, round_number, 1),
        None,
    )
    return model


def _explain(
    spec: Strategy,
    picked: np.ndarray,
    view: PoolView,
    dataset: ImageFolderDataset,
    seed: int,
    fraction: float,
) -> list[Pick]:
    """Score and a plain-language reason for every pick, in pick order."""
    need = _score_need(spec)
    embeddings = view.results.get("embedding")
    distances = nearest_pick = None
    typical = radius = 0.0
    if embeddings is not None:
        typical = typical_distance(embeddings, seed=seed)
        radius = fraction * typical
        distances, nearest_pick = _cover_distances(embeddings, view.labeled, picked)
    picks = []
    for rank, index in enumerate(picked.tolist(), start=1):
        score: float | None = None
        if need is not None:
            score = float(view.results[need][index])
            reason = f"{SCORE_NAMES[need]} {score:.4g}"
            if spec.kind == "single-sample":
                reason += f", rank {rank} of {len(view.unlabeled)} candidates"
            else:
                reason += f"; {spec.description}"
        elif spec.name == "coreset" and distances is not None:
            d = distances[rank - 1]
            score = None if math.isinf(d) else float(d)
            reason = (
                "first pick: nothing labeled yet, the cover starts here"
                if score is None
                else f"farthest from everything labeled or picked before: distance {d:.3g}"
                + (f" ({d / typical:.2f} x typical)" if typical > 0 else "")
            )
        elif spec.name == "uniform":
            reason = f"evenly spaced in time within sequence {view.sequences[index]!r}"
        elif spec.name == "random":
            reason = "random pick"
        else:
            reason = spec.description
        if nearest_pick is not None and nearest_pick[rank - 1][1] <= radius:
            other, d = nearest_pick[rank - 1]
            reason += f"; near-duplicate of pick #{other + 1} (distance {d:.3g})"
        pair = dataset.pairs[index]
        picks.append(Pick(rank, pair.image.name, str(pair.image.resolve()), score, reason))
    return picks


def _cover_distances(
    embeddings: np.ndarray, covered: np.ndarray, picked: np.ndarray, chunk: int = 256
) -> tuple[list[float], list[tuple[int, float]]]:
    """Per pick: distance to the nearest covered image or earlier pick (inf when none), and the
    nearest earlier pick with its distance ((-1, inf) for the first)."""
    x = embeddings.astype(np.float64)
    to_covered = np.full(len(picked), np.inf)
    for start in range(0, len(covered), chunk):
        block = x[covered[start : start + chunk]]
        d = np.linalg.norm(x[picked][:, None, :] - block[None, :, :], axis=2)
        to_covered = np.minimum(to_covered, d.min(axis=1))
    cover, nearest = [], []
    for j in range(len(picked)):
        if j == 0:
            nearest.append((-1, math.inf))
            cover.append(float(to_covered[0]))
            continue
        d = np.linalg.norm(x[picked[:j]] - x[picked[j]], axis=1)
        other = int(np.argmin(d))
        nearest.append((other, float(d[other])))
        cover.append(float(min(to_covered[j], d[other])))
    return cover, nearest


# --- round folder and exports ---------------------------------------------------------------------


def _write_round(
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
    rounds.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=rounds, prefix=f".round_{round_number}."))
    try:
        classes = project.class_list()
        name = f"{project.directory.resolve().name} round {round_number}"
        _write_manifest(staging, round_number, strategy, picks, advice, note)
        _write_cvat(staging / "cvat", name, classes, picks)
        _write_label_studio(staging / "label_studio", project.images_dir, classes, picks)
        _write_contact_sheet(staging, name, strategy, picks)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_manifest(
    folder: Path,
    round_number: int,
    strategy: str,
    picks: list[Pick],
    advice: Advice | None,
    note: str,
) -> None:
    rows = [p.to_dict(strategy) for p in picks]
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {**row, "score": "" if row["score"] is None else row["score"]} for row in rows
        )
    manifest = {
        "round": round_number,
        "created": _now(),
        "strategy": strategy,
        "note": note,
        "advice": advice.to_dict() if advice else None,
        "explanation": advice.render() if advice else None,
        "images": rows,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def cvat_labels(classes: ClassList) -> list[dict[str, Any]]:
    """CVAT label specification (task creation ``labels``): name, colour, no attributes."""
    return [
        {"name": name, "color": _hex(color), "attributes": []}
        for name, color in zip(classes.names, classes.colors, strict=True)
    ]


def _write_cvat(folder: Path, name: str, classes: ClassList, picks: list[Pick]) -> None:
    folder.mkdir()
    labels = cvat_labels(classes)
    paths = [p.path for p in picks]
    (folder / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    (folder / "images.txt").write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    task = {"name": name, "labels": labels, "sorting_method": "predefined", "images": paths}
    (folder / "task.json").write_text(json.dumps(task, indent=2) + "\n", encoding="utf-8")
    black = (0, 0, 0) in classes.colors or classes.ignore_color == (0, 0, 0)
    (folder / "README.txt").write_text(
        "CVAT task for this round\n"
        "========================\n"
        "Create it in the web UI (name and labels from task.json: use Raw and paste labels.json;\n"
        "add the images listed in images.txt, sorting method 'predefined' keeps the rank order),\n"
        "or with the CVAT command line client:\n\n"
        "  cvat-cli task create --labels labels.json --sorting-method predefined \\\n"
        f'      "{name}" local $(cat images.txt)\n\n'
        "When done: Export task dataset -> format 'Segmentation mask 1.1', then\n\n"
        "  alseg project import PROJECT_DIR --masks the-export.zip\n\n"
        "Its SegmentationClass/ masks are matched to the images by file name.\n"
        + (
            ""
            if black
            else "CVAT paints unannotated pixels black (0, 0, 0): add 'ignore_color: [0, 0, 0]'\n"
            "to the project's classes.yaml before importing, or the import rejects them.\n"
        ),
        encoding="utf-8",
    )


def label_studio_config(classes: ClassList) -> str:
    """Label Studio labeling config: brush masks and polygons over the project's classes."""
    labels = "".join(
        f"    <Label value={quoteattr(n)} background={quoteattr(_hex(c))}/>\n"
        for n, c in zip(classes.names, classes.colors, strict=True)
    )
    return (
        "<View>\n"
        '  <Image name="image" value="$image" zoom="true"/>\n'
        '  <BrushLabels name="brush" toName="image">\n'
        f"{labels}"
        "  </BrushLabels>\n"
        '  <PolygonLabels name="polygon" toName="image" strokeWidth="2" pointSize="small">\n'
        f"{labels}"
        "  </PolygonLabels>\n"
        "</View>\n"
    )


def _write_label_studio(
    folder: Path, images_dir: Path, classes: ClassList, picks: list[Pick]
) -> None:
    folder.mkdir()
    root = images_dir.resolve().parent
    tasks = [
        {
            "data": {
                "image": "/data/local-files/?d=" + quote(Path(p.path).relative_to(root).as_posix()),
                "rank": p.rank,
                "score": p.score,
                "reason": p.reason,
            }
        }
        for p in picks
    ]
    (folder / "tasks.json").write_text(json.dumps(tasks, indent=2) + "\n", encoding="utf-8")
    (folder / "config.xml").write_text(label_studio_config(classes), encoding="utf-8")
    (folder / "README.txt").write_text(
        "Label Studio project for this round\n"
        "===================================\n"
        "Start Label Studio with local files served from the images folder's parent:\n\n"
        "  LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \\\n"
        f"  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root} label-studio start\n\n"
        "Create a project, paste config.xml as its labeling interface (Code view), add a\n"
        f"Local Files source storage with path {images_dir.resolve()} (no need to sync), then\n"
        "import tasks.json.\n\n"
        "Label Studio exports brush masks as RLE; convert them to one PNG per image named like\n"
        "the image (class colours of classes.yaml, or class ids), then\n\n"
        "  alseg project import PROJECT_DIR --masks FOLDER\n",
        encoding="utf-8",
    )


def _write_contact_sheet(folder: Path, title: str, strategy: str, picks: list[Pick]) -> None:
    thumbs = folder / "thumbs"
    thumbs.mkdir()
    cells = []
    for pick in picks:
        thumb = Image.fromarray(read_rgb(Path(pick.path)))
        thumb.thumbnail(THUMBNAIL_SIZE)
        name = f"{pick.rank:04d}_{Path(pick.image).stem}.jpg"
        thumb.save(thumbs / name, quality=85)
        score = "&ndash;" if pick.score is None else f"{pick.score:.4g}"
        cells.append(
            "<figure>"
            f'<img src="thumbs/{quote(name)}" alt="{html.escape(pick.image)}">'
            f"<figcaption><b>#{pick.rank}</b> {html.escape(pick.image)}<br>"
            f"score {score}<br><small>{html.escape(pick.reason)}</small></figcaption>"
            "</figure>"
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}"
        "main{display:flex;flex-wrap:wrap;gap:12px}"
        "figure{width:260px;margin:0}img{max-width:256px;max-height:256px}"
        "figcaption{font-size:13px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(picks)} images picked by {html.escape(strategy)}, in rank order.</p>"
        f"<main>{''.join(cells)}</main></body></html>\n"
    )
    (folder / "contact_sheet.html").write_text(page, encoding="utf-8")
