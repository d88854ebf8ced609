"""``alseg advise`` and the project commands ``alseg init``, ``select`` and ``import``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from alseg.bars import progress_bars
from alseg.data.base import SegDataset
from alseg.errors import ConfigError, DataError

console = Console()
err_console = Console(stderr=True)

#: Progress callback of the library: (phase, done, total).
Report = Callable[[str, int, int], None]


class _PhaseProgress:
    """A rich progress bar per phase ("embedding", "training", "scoring"), on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


class _PhaseLines:
    """One line per finished phase (what, how many, seconds): progress for a log file."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.phase: str | None = None
        self.started = 0.0
        self.done = self.total = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self.finish()
            self.phase, self.started = phase, time.monotonic()
        self.done, self.total = done, total
        if done >= total:
            self.finish()

    def finish(self) -> None:
        if self.phase is None:
            return
        unit = "iterations" if self.phase.endswith("training") else "images"
        seconds = time.monotonic() - self.started
        self.out.print(
            f"{self.phase}: {self.done}/{self.total} {unit} in {seconds:.1f} s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        self.phase = None


@contextmanager
def _phases(lines: bool = True) -> Iterator[Report]:
    """Progress of a long command: bars with elapsed time and ETA on a terminal; when stdout is
    not a terminal (a log file), one line per phase on stdout (none when ``lines`` is False)."""
    if console.is_terminal:
        with progress_bars(err_console, 20, info=False, transient=True) as progress:
            yield _PhaseProgress(progress)
    elif lines:
        reporter = _PhaseLines(console)
        yield reporter
        reporter.finish()
    else:
        yield lambda phase, done, total: None


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _cleaned(removed: Sequence[str]) -> None:
    if removed:
        _say(f"note: removed what an interrupted command left: {', '.join(removed)}")


def _images_to_measure(
    data: Path | None, dataset: str, data_root: Path | None, pool: str, size: int | None, seed: int
) -> SegDataset:
    """The images to measure: ``data`` (a folder dataset root or a folder of images) or else the
    training split of the registered ``dataset`` as a pool."""
    from alseg.data.pools import build_pool, check_pool_kind
    from alseg.data.registry import create_dataset
    from alseg.project import ImageFolderDataset, list_images

    if data is not None:
        if (data / "classes.yaml").is_file() and (data / "images").is_dir():
            return create_dataset("folder", "train", data)
        if not data.is_dir():
            raise DataError(f"--data {data} is not a folder of images or a folder dataset root")
        return ImageFolderDataset(list_images(data), data)
    check_pool_kind(pool)
    base = create_dataset(dataset, "train", data_root)
    return build_pool(base, pool, size, seed)


def _final_budget(budget: str, pool_size: int) -> str | float:
    """The fraction an I-S@B, I-S or N+MxC budget ends at; "P%" and image counts unchanged."""
    from alseg.config import BudgetConfig

    if any(sign in budget for sign in "-+@"):
        return BudgetConfig.parse(budget).final_fraction(pool_size)
    return budget


def advise(
    data: Annotated[
        Path | None,
        typer.Option(help="your images: a folder of images, or a folder dataset root"),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="or a dataset: synthdrive, cityscapes, pascal_voc, a2d2, camvid, folder"),
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="folder holding --dataset")] = None,
    pool: Annotated[
        str, typer.Option(help="pool of --dataset: all, random, 0f, <X>f, aug, list:FILE")
    ] = "all",
    pool_size: Annotated[int | None, typer.Option(help="images in the pool (default: all)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the pool and the embedding head")] = 0,
    budget: Annotated[
        str,
        typer.Option(
            help='budget: "10-10@30", "2-2" (I-S@B, I-S in percent), "1000+1000x3" (N+MxC '
            'images), "P%" or a number of images'
        ),
    ] = "10-10",
    ssl: Annotated[
        bool, typer.Option("--ssl/--no-ssl", help="whether SSL training is an option")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    image_size: Annotated[
        str | None, typer.Option(help="HxW every image is resized to first, e.g. 128x256")
    ] = None,
    near_duplicate_fraction: Annotated[
        float | None,
        typer.Option(help="near-duplicate radius as a fraction of the typical distance"),
    ] = None,
) -> None:
    """How redundant is the pool, and which method (and SSL) the paper's guide recommends."""
    if (data is None) == (dataset is None):
        raise ConfigError("give either --data PATH (your images) or --dataset NAME, not both")
    from alseg.advise import advise as advise_from_report
    from alseg.advise import budget_regime
    from alseg.config import parse_image_size
    from alseg.devices import resolve_device
    from alseg.embeddings import dataset_redundancy, pool_embeddings
    from alseg.models.deeplab import DEFAULT_ENCODER
    from alseg.neighbours import NEAR_DUPLICATE_FRACTION

    fraction = (
        NEAR_DUPLICATE_FRACTION if near_duplicate_fraction is None else near_duplicate_fraction
    )
    size = parse_image_size(image_size) if image_size else None
    images = _images_to_measure(data, dataset or "", data_root, pool, pool_size, seed)
    regime = budget_regime(_final_budget(budget, len(images)), len(images))
    torch_device = resolve_device(device)
    with _phases(lines=not as_json) as bar:
        embeddings = pool_embeddings(
            images,
            device=torch_device,
            image_size=size,
            seed=seed,
            on_batch=lambda done, total: bar("embedding", done, total),
        )
    report = dataset_redundancy(images, embeddings, near_duplicate_fraction=fraction, seed=seed)
    result = advise_from_report(report, regime, ssl)
    embedding_note = (
        f"Embeddings: ImageNet-pretrained {DEFAULT_ENCODER} encoder, 2x2-pooled ASPP "
        f"projection; near-duplicates within {fraction:g} x the typical distance."
    )
    if as_json:
        payload = {
            **result.to_dict(),
            "budget_setting": budget,
            "images": len(images),
            "embeddings": {"encoder": DEFAULT_ENCODER, "near_duplicate_fraction": fraction},
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    console.print(result.render(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n{embedding_note}", markup=False, highlight=False, soft_wrap=True)


EpochsOption = Annotated[
    float | None,
    typer.Option(
        help="training epochs per round: iterations = epochs x labeled / batch size, at least "
        "--min-iterations (the floor); default: the project's",
        min=0.01,
    ),
]
MinIterationsOption = Annotated[
    int | None,
    typer.Option(
        help="the floor of training iterations per round, whatever the epochs give "
        "(default: the project's, 100 at init)",
        min=0,
    ),
]


def init(
    directory: Annotated[Path, typer.Argument(help="project folder to create")],
    images: Annotated[Path, typer.Option(help="folder of your images (not copied)")],
    classes: Annotated[Path, typer.Option(help="classes.yaml: name, id and color per class")],
    masks: Annotated[
        Path | None,
        typer.Option(help="masks you already have (PNG folder by file stem, CVAT zip, LS JSON)"),
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="HxW for training and scoring (default: from the images)")
    ] = None,
    epochs: Annotated[
        float,
        typer.Option(
            help="training epochs per round: iterations = epochs x labeled / batch size, at "
            "least --min-iterations",
            min=0.01,
        ),
    ] = 20.0,
    min_iterations: Annotated[
        int, typer.Option(help="the floor of training iterations per round", min=0)
    ] = 100,
    seed: Annotated[int, typer.Option(help="seed of training and selection")] = 0,
) -> None:
    """Create an active-learning project over a folder of your images."""
    from alseg.config import parse_image_size
    from alseg.project import init_project

    working = parse_image_size(size) if size else None
    project = init_project(
        directory,
        images,
        classes,
        masks,
        working_size=working,
        epochs=epochs,
        min_iterations=min_iterations,
        seed=seed,
    )
    count = len(project.dataset())
    shape = project.settings["working_size"]
    _say(
        f"created project {directory}: {count} images, {len(project.labeled)} labeled, "
        f"working size {'native' if shape is None else f'{shape[0]}x{shape[1]} (HxW)'}\n"
        f"next: alseg select {directory} --budget N"
    )


def select(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    budget: Annotated[int, typer.Option(help="number of images to pick", min=1)],
    strategy: Annotated[
        str, typer.Option(help="auto (the paper's guide) or a strategy, see `alseg strategies`")
    ] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    epochs: EpochsOption = None,
    min_iterations: MinIterationsOption = None,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate/--no-estimate",
            help="estimate the round model's quality (held-out images, or k-fold when few)",
        ),
    ] = True,
) -> None:
    """Train the round model, pick the next images to annotate; write manifest, the model, its
    pre-annotations, CVAT/Label Studio tasks and a contact sheet."""
    from alseg.project import select as select_images

    started = time.monotonic()
    with _phases() as report:
        result = select_images(
            directory,
            budget,
            strategy,
            device,
            epochs,
            min_iterations=min_iterations,
            estimate=estimate,
            progress=report,
        )
    _cleaned(result.cleaned)
    if result.advice is not None:
        _say(result.advice.render())
        console.print()
    if result.note:
        _say(f"Note: {result.note}.")
    trained = f", model trained on {result.trained_on} images" if result.trained_on else ""
    table = Table(title=f"round {result.round}: {result.strategy}{trained}")
    for column in ("rank", "image", "score", "reason"):
        table.add_column(column)
    for pick in result.picks:
        score = "" if pick.score is None else f"{pick.score:.4g}"
        table.add_row(str(pick.rank), pick.image, score, pick.reason)
    console.print(table)
    if result.quality is not None:
        _say(f"round model quality: {result.quality['summary']}")
    elif result.trained_on:
        _say("round model quality: not estimated")
    model = (
        ", model.pt, predictions/ (pre-annotations in both exports)" if result.trained_on else ""
    )
    _say(
        f"wrote {result.folder}: manifest.csv{model}, cvat/, label_studio/, contact_sheet.html "
        f"(round {result.round} in {time.monotonic() - started:.1f} s)"
    )


def import_(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    masks: Annotated[
        Path,
        typer.Option(
            help="returned masks: PNG or folder of them, CVAT 'Segmentation mask 1.1' export "
            "(zip or folder), or Label Studio JSON export (.json)"
        ),
    ],
) -> None:
    """Import annotated masks (all validated first; one bad mask imports nothing)."""
    from alseg.project import import_masks

    result = import_masks(directory, masks)
    _cleaned(result.cleaned)
    waiting = (
        f"; {len(result.not_annotated)} tasks of the export not annotated yet"
        if result.not_annotated
        else ""
    )
    _say(
        f"imported {len(result.imported)} new masks, replaced {len(result.updated)}, skipped "
        f"{len(result.skipped)} without labelled pixels{waiting}; {result.labeled_total} "
        "images labeled"
    )


def predict(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    images: Annotated[
        list[Path] | None,
        typer.Option(help="image files or folders (repeat the option); default: the unlabeled"),
    ] = None,
    round_number: Annotated[
        int | None, typer.Option("--round", help="whose model (default: the latest with one)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default PROJECT/predictions/round_K)")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Predict masks with a round's model: index PNGs (importable) and colour previews."""
    from alseg.project import predict as predict_masks

    with _phases() as report:
        result = predict_masks(directory, images, round_number, out, device, report)
    _say(
        f"round {result.round} model: {result.count} masks in {result.out}/masks, colour "
        f"previews in {result.out}/preview, mean confidence {result.mean_confidence:.3f}"
    )


def status(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Rounds, images sent out and returned, labeled count, last quality estimate, next step."""
    from alseg.project import status as project_status

    report = project_status(directory)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _say(
        f"project {report['project']}: {report['images']} images, {report['labeled']} "
        f"labeled, {report['pending']} sent out and not returned"
    )
    if report["rounds"]:
        table = Table()
        columns = ("round", "strategy", "sent", "returned", "pending", "released")
        for column in (*columns, "trained on", "mIoU"):
            table.add_column(column)
        for row in report["rounds"]:
            miou = "" if row["miou"] is None else f"{row['miou']:.1f}"
            cells = [str(row[c]) for c in columns]
            table.add_row(*cells, str(row["trained_on"] or ""), miou)
        console.print(table)
    last = report["last_quality"]
    if last is not None:
        _say(f"last quality estimate (round {last['round']}): {last['summary']}")
    if report["leftovers"]:
        _say(
            f"an interrupted command left {', '.join(report['leftovers'])}; the next select, "
            "import or release removes it"
        )
    _say(f"next: {report['next']}")


def release(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    round_number: Annotated[int, typer.Option("--round", help="the round that sent them out")],
    image: Annotated[
        list[str] | None,
        typer.Option(help="only these images (file name or stem; repeat); default: all pending"),
    ] = None,
) -> None:
    """Release images sent out in a round and never returned, so select can pick them again."""
    from alseg.project import release as release_images

    released = release_images(directory, round_number, image)
    if released:
        _say(f"released {len(released)} images of round {round_number}: {', '.join(released)}")
    else:
        _say(f"round {round_number} has no image out for annotation; nothing released")
