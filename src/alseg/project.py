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

import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy.spatial.distance import cdist

from alseg.acquisition.base import PoolView, Strategy
from alseg.acquisition.inference import infer_pool
from alseg.acquisition.strategies import STRATEGIES, get_strategy
from alseg.advise import Advice, advise, budget_regime, typical_distance
from alseg.annotation import (
    MaskCodec,
    Pick,
    mask_source,
    no_masks,
    save_id_png,
    write_contact_sheet,
    write_cvat,
    write_label_studio,
    write_manifest,
)
from alseg.config import SSLConfig, TrainConfig, build
from alseg.data.base import IGNORE_INDEX, FrameMeta, SegDataset, SubsetDataset
from alseg.data.folder import ClassList, sequence_and_frame
from alseg.data.imageio import (
    FilePair,
    FilePairDataset,
    list_files,
    open_image,
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

#: Progress callback: (phase, done, total).
Progress = Callable[[str, int, int], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


# --- importing masks ------------------------------------------------------------------------------


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


# --- selecting images -----------------------------------------------------------------------------


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


def _partition(
    project: Project, dataset: ImageFolderDataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dataset indices of the labeled images, of those sent out in a round and not labeled yet,
    and of the rest (the candidates)."""
    labeled, pending = project.labeled, project.pending
    groups: tuple[list[int], list[int], list[int]] = ([], [], [])
    for index, pair in enumerate(dataset.pairs):
        stem = pair.image.stem
        groups[0 if stem in labeled else 1 if stem in pending else 2].append(index)
    labeled_indices, pending_indices, candidates = (np.asarray(g, dtype=np.int64) for g in groups)
    return labeled_indices, pending_indices, candidates


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
    labeled, covered, candidates = _partition(project, dataset)
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
    working = settings["working_size"]
    work = resized(dataset, (working[0], working[1]) if working else None)
    torch_device = resolve_device(device)
    batch = max(4, 4 * int(settings["batch_size"]))
    results: dict[str, np.ndarray] = {}

    advice, note, chosen = None, "", strategy
    if strategy == "auto":
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
        advice = advise(redundancy, budget_regime(len(labeled) + len(covered) + budget, n), False)
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
        model = _scoring_model(
            project, work, labeled, spec, epochs, torch_device, round_number, report
        )
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
    report: Progress,
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
        lambda iteration, total, loss: report("training", iteration, total),
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
    distances = nearest_pick = to_earlier = None
    typical = radius = 0.0
    if embeddings is not None:
        typical = typical_distance(embeddings, seed=seed)
        radius = fraction * typical
        distances, nearest_pick, to_earlier = _cover_distances(embeddings, view.labeled, picked)
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
            d = float(distances[rank - 1])
            score = None if math.isinf(d) else d
            reason = (
                "first pick: nothing labeled yet, the cover starts here"
                if score is None
                else f"farthest from the labeled, sent-out and earlier picked images: "
                f"distance {d:.3g}" + (f" ({d / typical:.2f} x typical)" if typical > 0 else "")
            )
        elif spec.name == "uniform":
            reason = f"evenly spaced in time within sequence {view.sequences[index]!r}"
        elif spec.name == "random":
            reason = "random pick"
        else:
            reason = spec.description
        if to_earlier is not None and to_earlier[rank - 1] <= radius:
            reason += (
                f"; near-duplicate of pick #{nearest_pick[rank - 1] + 1} "
                f"(distance {to_earlier[rank - 1]:.3g})"
            )
        pair = dataset.pairs[index]
        picks.append(Pick(rank, pair.image.name, str(pair.image.resolve()), score, reason))
    return picks


def _cover_distances(
    embeddings: np.ndarray, covered: np.ndarray, picked: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pick, in pick order: distance to the nearest covered image or earlier pick (inf when
    there is none), and the nearest earlier pick (-1 for the first) with its distance."""
    x = embeddings.astype(np.float64)
    chosen = x[picked]
    to_covered = np.full(len(picked), np.inf)
    for start in range(0, len(covered), chunk):
        block = cdist(chosen, x[covered[start : start + chunk]])
        to_covered = np.minimum(to_covered, block.min(axis=1))
    nearest = np.full(len(picked), -1, dtype=np.int64)
    to_earlier = np.full(len(picked), np.inf)
    for start in range(1, len(picked), chunk):
        stop = min(start + chunk, len(picked))
        block = cdist(chosen[start:stop], chosen[:stop])
        block[np.arange(stop)[None, :] >= np.arange(start, stop)[:, None]] = np.inf
        nearest[start:stop] = block.argmin(axis=1)
        to_earlier[start:stop] = block.min(axis=1)
    return np.minimum(to_covered, to_earlier), nearest, to_earlier


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
        write_manifest(staging, round_number, _now(), strategy, picks, advice, note)
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
