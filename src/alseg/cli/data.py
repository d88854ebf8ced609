"""``alseg data``: statistics and previews of datasets, pools and pool list files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from alseg.config import PoolConfig
from alseg.data.base import SegDataset
from alseg.data.pools import build_pool, check_pool_kind
from alseg.data.registry import create_dataset
from alseg.data.stats import dataset_stats, list_stats, stats_table

app = typer.Typer(help="Inspect datasets and pools.", no_args_is_help=True)

DatasetOption = Annotated[
    str, typer.Option(help="synthdrive, cityscapes, pascal_voc, a2d2, camvid, folder")
]
RootOption = Annotated[Path | None, typer.Option(help="folder holding a real dataset")]
SplitOption = Annotated[str, typer.Option(help="train or val")]
PoolOption = Annotated[str, typer.Option(help="all, random, 0f, <X>f (e.g. 11f), aug, list:FILE")]
PoolSizeOption = Annotated[
    int | None,
    typer.Option(
        help="images in the pool (default: every frame for all and list:, else 400 as in "
        "`alseg run`, or every frame of a smaller dataset)"
    ),
]
SeedOption = Annotated[int, typer.Option(help="seed of the pool's random choices")]


def _dataset(
    dataset: str, data_root: Path | None, split: str, pool: str, pool_size: int | None, seed: int
) -> SegDataset:
    check_pool_kind(pool)
    base = create_dataset(dataset, split, data_root)
    if pool_size is None and pool != "all" and not pool.startswith("list:"):
        pool_size = min(PoolConfig().size or len(base), len(base))
    return build_pool(base, pool, pool_size, seed)


def _agreement(dataset: SegDataset) -> dict[str, float]:
    from alseg.data.agreement import label_agreement

    result: Any = label_agreement(dataset, lags=(1, 20))
    if not isinstance(result, Mapping):
        result = dict(zip((1, 20), result, strict=True))
    return {str(lag): float(value) for lag, value in result.items()}


@app.command()
def stats(
    dataset: DatasetOption = "synthdrive",
    data_root: RootOption = None,
    split: SplitOption = "train",
    pool: PoolOption = "all",
    pool_size: PoolSizeOption = None,
    seed: SeedOption = 0,
    list_file: Annotated[
        Path | None,
        typer.Option("--list", help="a pool list file: statistics from its file names alone"),
    ] = None,
    classes: Annotated[
        bool, typer.Option("--classes/--no-classes", help="class pixel shares (reads masks)")
    ] = True,
    max_images: Annotated[
        int, typer.Option(help="masks read for class shares (evenly spaced)", min=1)
    ] = 500,
    agreement: Annotated[
        bool, typer.Option("--agreement", help="label agreement at lags 1 and 20")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Images, sequences, runs of consecutive frames, temporal redundancy and class shares."""
    if list_file is not None:
        result = list_stats(list_file)
    else:
        data = _dataset(dataset, data_root, split, pool, pool_size, seed)
        result = dataset_stats(data, class_frequencies=classes, max_images=max_images)
        if agreement:
            result["label_agreement"] = _agreement(data)
        if data.notes():
            result["data_notes"] = data.notes()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(stats_table(result))


@app.command()
def preview(
    dataset: DatasetOption = "synthdrive",
    data_root: RootOption = None,
    split: SplitOption = "train",
    pool: PoolOption = "all",
    pool_size: PoolSizeOption = None,
    count: Annotated[int, typer.Option(help="samples shown", min=1)] = 8,
    seed: SeedOption = 0,
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("preview.png"),
) -> None:
    """Write a PNG grid of images with their colour-coded masks."""
    from alseg.data.preview import write_preview
    from alseg.errors import DataError
    from alseg.io import writable_folder

    if out.is_dir():
        raise DataError(f"preview --out {out} is a folder; give a .png file name")
    writable_folder(out.parent, "preview folder")
    data = _dataset(dataset, data_root, split, pool, pool_size, seed)
    write_preview(data, out, count=count, seed=seed)
    Console().print(f"wrote {out}")
