"""alseg's progress bars: one layout for runs, studies and project commands."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bars(
    console: Console | None, label_width: int, *, info: bool = True, **options: Any
) -> Progress:
    """A rich ``Progress``: label, bar, done/total, the task's ``info`` field (when ``info``),
    elapsed time and ETA; ``options`` go to ``Progress`` (``transient``, ``disable``, ...)."""
    columns: list[ProgressColumn] = [
        TextColumn(f"[bold]{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, **options)
