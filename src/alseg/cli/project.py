"""``alseg advise`` and the project commands ``alseg init``, ``select`` and ``import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from alseg.data.base import SegDataset
from alseg.errors import ConfigError, DataError

console = Console()
err_console = Console(stderr=True)


class _PhaseProgress:
    """A rich progress bar per phase ("embedding", "training", "scoring"), on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    )


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
    with _progress() as progress:
        bar = _PhaseProgress(progress)
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


def init(
    directory: Annotated[Path, typer.Argument(help="project folder to create")],
    images: Annotated[Path, typer.Option(help="folder of your images (not copied)")],
    classes: Annotated[Path, typer.Option(help="classes.yaml: name, id and color per class")],
    masks: Annotated[
        Path | None, typer.Option(help="masks you already have (PNG folder, by file stem)")
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="HxW for training and scoring (default: from the images)")
    ] = None,
    epochs: Annotated[float, typer.Option(help="training epochs per round", min=0.01)] = 20.0,
    seed: Annotated[int, typer.Option(help="seed of training and selection")] = 0,
) -> None:
    """Create an active-learning project over a folder of your images."""
    from alseg.config import parse_image_size
    from alseg.project import init_project

    working = parse_image_size(size) if size else None
    project = init_project(
        directory, images, classes, masks, working_size=working, epochs=epochs, seed=seed
    )
    count = len(project.dataset())
    shape = project.settings["working_size"]
    console.print(
        f"created project {directory}: {count} images, {len(project.labeled)} labeled, "
        f"working size {'native' if shape is None else f'{shape[0]}x{shape[1]}'}\n"
        f"next: alseg select {directory} --budget N",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def select(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    budget: Annotated[int, typer.Option(help="number of images to pick", min=1)],
    strategy: Annotated[
        str, typer.Option(help="auto (the paper's guide) or a strategy, see `alseg strategies`")
    ] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    epochs: Annotated[
        float | None, typer.Option(help="training epochs (default: the project's)", min=0.01)
    ] = None,
) -> None:
    """Pick the next images to annotate; write manifest, CVAT/Label Studio tasks, contact sheet."""
    from alseg.project import select as select_images

    with _progress() as progress:
        result = select_images(
            directory, budget, strategy, device, epochs, progress=_PhaseProgress(progress)
        )
    if result.advice is not None:
        console.print(result.advice.render(), markup=False, highlight=False, soft_wrap=True)
        console.print()
    if result.note:
        console.print(f"Note: {result.note}.", markup=False, highlight=False, soft_wrap=True)
    trained = f", model trained on {result.trained_on} images" if result.trained_on else ""
    table = Table(title=f"round {result.round}: {result.strategy}{trained}")
    for column in ("rank", "image", "score", "reason"):
        table.add_column(column)
    for pick in result.picks:
        score = "" if pick.score is None else f"{pick.score:.4g}"
        table.add_row(str(pick.rank), pick.image, score, pick.reason)
    console.print(table)
    console.print(
        f"wrote {result.folder}: manifest.csv, cvat/, label_studio/, contact_sheet.html",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def import_(
    directory: Annotated[Path, typer.Argument(help="project folder")],
    masks: Annotated[
        Path, typer.Option(help="returned masks: PNG, folder, or CVAT 'Segmentation mask' zip")
    ],
) -> None:
    """Import annotated masks (all validated first; one bad mask imports nothing)."""
    from alseg.project import import_masks

    result = import_masks(directory, masks)
    console.print(
        f"imported {len(result.imported)} new masks, replaced {len(result.updated)}, skipped "
        f"{len(result.skipped)} without labelled pixels; {result.labeled_total} images labeled",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
