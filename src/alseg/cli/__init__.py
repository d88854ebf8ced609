"""The ``alseg`` command line: parse, validate, call the library, print. No logic here."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alseg.errors import AlsegError

app = typer.Typer(
    help="Active learning for semantic segmentation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


@functools.cache
def _mount_subapps() -> None:
    from alseg.cli import data
    from alseg.cli import project as project_cli
    from alseg.cli import study as study_cli

    app.add_typer(data.app, name="data")
    app.command("advise")(project_cli.advise)
    app.command("init")(project_cli.init)
    app.command("select")(project_cli.select)
    app.command("import")(project_cli.import_)
    app.command("predict")(project_cli.predict)
    app.command("status")(project_cli.status)
    app.command("release")(project_cli.release)
    app.command("study")(study_cli.study)
    app.command("report")(study_cli.report)


@app.command()
def run(
    context: typer.Context,
    dataset: Annotated[
        str, typer.Option(help="synthdrive, cityscapes, pascal_voc, a2d2, camvid, folder")
    ] = "synthdrive",
    data_root: Annotated[Path | None, typer.Option(help="folder holding a real dataset")] = None,
    pool: Annotated[
        str, typer.Option(help="all, random, 0f, <X>f (e.g. 11f), aug, list:FILE")
    ] = "11f",
    pool_size: Annotated[
        int | None, typer.Option(help="images in the pool (default: preset)")
    ] = None,
    strategy: Annotated[
        str, typer.Option(help="see `alseg strategies`; full = 100% reference; or module:attribute")
    ] = "entropy",
    ssl: Annotated[str, typer.Option(help="none, s4gan, unimatch, u2pl")] = "none",
    budget: Annotated[
        str, typer.Option(help="I-S@B or I-S in percent of the pool, or N+MxC images")
    ] = "10-10",
    until: Annotated[
        float | None, typer.Option(help="last budget B in percent (default I+4S)")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    out: Annotated[Path | None, typer.Option(help="output folder (default runs/<name>)")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the results an earlier run left in --out")
    ] = False,
    epochs: Annotated[
        float | None,
        typer.Option(help="training epochs per cycle: iterations = epochs*|L|/batch, with a floor"),
    ] = None,
    min_iterations: Annotated[
        int | None, typer.Option(help="the floor of training iterations per cycle (default 100)")
    ] = None,
    image_size: Annotated[str | None, typer.Option(help="HxW for synthdrive, e.g. 64x128")] = None,
    head_dropout: Annotated[
        float | None,
        typer.Option(help="decoder-head dropout; 0.5 with --strategy full = BALD's MCD reference"),
    ] = None,
    miou_at: Annotated[
        float | None,
        typer.Option(help="budget step M of mIoU@M (default I+2S: mIoU@30 for 10-10)"),
    ] = None,
    model_weights: Annotated[
        Path | None,
        typer.Option(help="ImageNet encoder weights file (wrn38, or any timm encoder offline)"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="experiment YAML; options override it")
    ] = None,
) -> None:
    """Run one active-learning experiment and write results.json and curve.png."""
    from alseg.cli.run import run_command

    run_command(
        dataset=dataset,
        data_root=data_root,
        pool=pool,
        pool_size=pool_size,
        strategy=strategy,
        ssl=ssl,
        budget=budget,
        until=until,
        seed=seed,
        device=device,
        out=out,
        overwrite=overwrite,
        epochs=epochs,
        min_iterations=min_iterations,
        image_size=image_size,
        head_dropout=head_dropout,
        model_weights=model_weights,
        miou_at=miou_at,
        config=config,
        console=console,
        explicit=_explicit_options(context),
    )


def _explicit_options(context: typer.Context) -> set[str]:
    """Option names given on the command line (so they override a --config file)."""
    return {
        name
        for name in context.params
        if getattr(context.get_parameter_source(name), "name", "") == "COMMANDLINE"
    }


@app.command()
def strategies() -> None:
    """List the acquisition strategies and what each needs."""
    from rich.table import Table

    from alseg.acquisition.registry import get_strategy, list_strategies

    table = Table(title="acquisition strategies")
    for column in ("name", "title", "family, needs", "options", "what it picks"):
        table.add_column(column)
    for name in list_strategies():
        strategy = get_strategy(name)
        options = ", ".join(f"{k}={v}" for k, v in strategy.parse_options().model_dump().items())
        table.add_row(name, strategy.title, strategy.summary(), options, strategy.description)
    table.add_row(
        "full", "100%", "reference", "", "no acquisition: trains once on the whole pool (100%)"
    )
    console.print(table)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    _mount_subapps()
    try:
        app()
    except AlsegError as error:
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
