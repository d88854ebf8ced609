"""``alseg study`` (run a grid of experiments, resumable) and ``alseg report`` (its tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alseg.errors import ConfigError
from alseg.study.config import StudyConfig
from alseg.study.presets import PRESETS

console = Console()
PRESET_HELP = ", ".join(PRESETS)


def resolve_study(config_or_preset: str) -> StudyConfig:
    """A study YAML file if one exists at that path, otherwise a preset name."""
    from alseg.study.config import load_study
    from alseg.study.presets import preset

    path = Path(config_or_preset)
    if path.is_file():
        return load_study(path)
    if config_or_preset in PRESETS:
        return preset(config_or_preset)
    if path.suffix in (".yaml", ".yml"):
        raise ConfigError(f"study file {path} not found")
    raise ConfigError(
        f"{config_or_preset!r} is neither a study YAML file nor a preset; presets: {PRESET_HELP}"
    )


def study(
    config_or_preset: Annotated[
        str, typer.Argument(help=f"a study YAML file or a preset ({PRESET_HELP})")
    ],
    out: Annotated[
        Path | None, typer.Option(help="study folder (default: studies/<study name>)")
    ] = None,
    executor: Annotated[str, typer.Option(help="local (one run after another) or ray")] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster address (default: start a local cluster)"),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and list the runs; write nothing")
    ] = False,
    data_root: Annotated[
        Path | None, typer.Option(help="data root for every pool of the study (real datasets)")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch CPU threads of the local executor (default: OMP_NUM_THREADS, else the "
            "CPUs this process may use; results depend on it)"
        ),
    ] = None,
    cpus_per_run: Annotated[
        float, typer.Option(help="CPUs (and torch threads) each Ray task requests")
    ] = 1.0,
    gpus_per_run: Annotated[
        float | None,
        typer.Option(help="GPUs each Ray task requests (default: 1 where runs use a GPU)"),
    ] = None,
    restart: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RUN_KEY",
            help="a run's key: delete its stored cycles and run it again from cycle 0 "
            "(repeatable; the way out when a checkpoint it needs is damaged)",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="write a different study into a folder that holds another one"
        ),
    ] = False,
) -> None:
    """Run a study: every run x cycle is committed to STUDY_DIR/study.sqlite; re-run to resume.

    One study process at a time per folder (a second one exits naming the first one's PID)."""
    from alseg.study.config import with_data_root
    from alseg.study.executors import default_threads, make_executor
    from alseg.study.runner import run_study

    spec = resolve_study(config_or_preset)
    if data_root is not None:
        spec = with_data_root(spec, data_root)
    if executor == "local" and threads is None:
        threads = default_threads()  # OMP_NUM_THREADS, else the CPUs this process may use
    chosen = make_executor(executor, address, cpus_per_run, gpus_per_run, threads)
    out_dir = out or Path("studies") / spec.name
    outcome = run_study(
        spec, out_dir, chosen, device, dry_run, console, restart=restart or (), overwrite=overwrite
    )
    if dry_run:
        return
    for failure in outcome.failures:
        console.print(f"[red]failed[/]: {escape(failure.label)}: {escape(failure.error)}")
    console.print(
        f"{outcome.executed} runs processed in {outcome.seconds:.0f} s, "
        f"{len(outcome.failures)} failed; results in {out_dir} "
        f"(tables and figures: alseg report {out_dir})"
    )
    if outcome.failures:
        raise typer.Exit(1)


def report(
    study_dir: Annotated[Path, typer.Argument(help="a study folder written by alseg study")],
    out: Annotated[
        Path | None, typer.Option(help="report folder (default: STUDY_DIR/report)")
    ] = None,
    miou_at: Annotated[
        float | None,
        typer.Option(help="budget step M of mIoU@M (default I+2S: the paper's mIoU@30 for 10-10)"),
    ] = None,
) -> None:
    """Write the study's tables (Markdown, HTML, CSV), budget curves and t-SNE figures."""
    from alseg.report.build import write_report

    result = write_report(study_dir, out, miou_at=miou_at)
    for data in result.result_tables + result.ranking_tables:
        table = Table(title=data.title, caption=data.note)
        for column in data.header:
            table.add_column(column, justify="left" if column == "Method" else "right")
        for row in data.rows:
            table.add_row(
                *(f"[bold]{escape(text)}[/]" if bold else escape(text) for text, bold in row)
            )
        console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note[/]: {escape(note)}")
    console.print(f"wrote {len(result.files)} files to {result.out_dir}")
