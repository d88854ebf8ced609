"""Synthetic study results for the report tests: finished runs whose mIoU per cycle a test sets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from alseg.acquisition.registry import FULL, get_strategy
from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult
from alseg.metrics import budget_steps
from alseg.report.records import RunRecord, load_records
from alseg.study.config import StudyConfig, expand
from alseg.study.store import CycleRow, Store

NO_EVALUATION = {"per_class_iou": {}, "train_seconds": 0.0, "eval_seconds": 0.0, "train_loss": 0.0}

#: mIoU per cycle of one run (one value for a 100% reference).
Mious = Callable[[ExperimentConfig], Sequence[float]]


def cycle_rows(config: ExperimentConfig, mious: Sequence[float]) -> list[CycleRow]:
    """The cycles of a finished run at the budget's nominal fractions (1.0 for a reference, the
    last one only for a one-shot strategy)."""
    if config.strategy == FULL:
        fractions = [1.0]
    else:
        fractions = [step / 100 for step in budget_steps(config.budget)]
        fractions = fractions[-1:] if get_strategy(config.strategy).one_shot else fractions
    assert len(fractions) == len(mious), (config.strategy, config.budget.label(), mious)
    rows = []
    for cycle, (fraction, miou) in enumerate(zip(fractions, mious, strict=True)):
        result = CycleResult(
            **NO_EVALUATION, miou=miou, cycle=cycle, labeled=cycle + 1, fraction=fraction,
            nominal_fraction=fraction, added=[], added_ids=[], acquired=[], score_seconds=0.0,
            diagnostics={},
        )  # fmt: skip
        rows.append(CycleRow(list(range(cycle + 1)), result))
    return rows


def synthetic_records(study: StudyConfig, mious: Mious) -> list[RunRecord]:
    """Every run of the study, finished with the given mIoUs (no store)."""
    return [RunRecord(c.key(), c, cycle_rows(c, mious(c))) for c in expand(study)]


def write_store(directory: Path, study: StudyConfig, mious: Mious) -> list[RunRecord]:
    """A study store in ``directory`` with every run finished; returns its records."""
    store = Store(directory)
    configs = expand(study)
    store.register(configs)
    store.save_meta("runs", [c.key() for c in configs])
    store.save_meta("study", {"name": study.name})
    for config in configs:
        rows = cycle_rows(config, mious(config))
        for row in rows:
            store.commit_cycle(config.key(), row, row is rows[-1])
    return load_records(store)
