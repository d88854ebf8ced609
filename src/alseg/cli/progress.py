"""Rich progress display and result tables for the terminal."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from alseg.bars import progress_bars
from alseg.cycle import CycleResult
from alseg.loop import ExperimentResult


class RichReporter:
    """Draws one bar for the cycles and one for the current phase (train, evaluate, score)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = progress_bars(console, 28, transient=False)
        self.cycles_task = self.progress.add_task("cycles", total=None, info="")
        self.phase_task = self.progress.add_task("starting", total=None, info="")

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def cycle_started(self, cycle: int, cycles: int, labeled: int, iterations: int) -> None:
        self.progress.update(
            self.cycles_task, total=cycles, completed=cycle, info=f"{labeled} labeled"
        )
        self.progress.update(
            self.phase_task,
            description=f"cycle {cycle}: training",
            total=iterations,
            completed=0,
            info="",
        )

    def train_step(self, iteration: int, total: int, loss: float) -> None:
        if iteration % 5 == 0 or iteration == total:
            self.progress.update(self.phase_task, completed=iteration, info=f"loss {loss:.3f}")

    def phase(self, name: str, done: int, total: int) -> None:
        self.progress.update(
            self.phase_task, description=name, total=total, completed=done, info=""
        )

    def cycle_finished(self, result: CycleResult) -> None:
        self.progress.update(self.cycles_task, completed=result.cycle + 1)
        extra = ""
        if result.diagnostics:
            d = result.diagnostics
            extra = f", picks from {d['distinct_sequences']} drives/{d['distinct_groups']} groups"
        self.progress.console.print(
            f"cycle {result.cycle}: {result.labeled} labeled ({100 * result.fraction:.1f}%), "
            f"mIoU {result.miou:.2f}, train {result.train_seconds:.0f}s{extra}"
        )


def cycles_table(result: ExperimentResult) -> Table:
    table = Table(title=f"{result.label} on a pool of {result.pool_size} ({result.budget})")
    for column in ("cycle", "labeled", "% pool", "mIoU", "train s", "score s", "drives", "groups"):
        table.add_column(column, justify="right")
    for c in result.cycles:
        d = c.diagnostics
        table.add_row(
            str(c.cycle),
            str(c.labeled),
            f"{100 * c.fraction:.1f}",
            f"{c.miou:.2f}",
            f"{c.train_seconds:.1f}",
            f"{c.score_seconds:.1f}",
            str(d.get("distinct_sequences", "")),
            str(d.get("distinct_groups", "")),
        )
    table.caption = (
        f"mIoU@{result.m:g} {_number(result.miou_at_m)}   "
        f"mIoU@B {_number(result.miou_at_budget)}   AUC@B {_number(result.auc_at_budget)}"
    )
    return table


def _number(value: float) -> str:
    """Two decimals, or "-" for NaN (e.g. the AUC of a one-shot run)."""
    return "-" if math.isnan(value) else f"{value:.2f}"


def class_table(cycle: CycleResult) -> Table:
    table = Table(title=f"per-class IoU, cycle {cycle.cycle}")
    table.add_column("class")
    table.add_column("IoU", justify="right")
    for name, value in cycle.per_class_iou.items():
        if value is not None:
            table.add_row(name, f"{value:.1f}")
    return table
