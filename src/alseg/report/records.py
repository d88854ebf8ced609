"""The finished runs of a study store, with the numbers the report needs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from alseg.acquisition.registry import FULL
from alseg.config import BudgetConfig, ExperimentConfig
from alseg.errors import ConfigError
from alseg.labels import method_label
from alseg.loop import head_dropout
from alseg.metrics import auc_at_budget, budget_steps, default_m, miou_at_step, step_index
from alseg.study.store import CycleRow, Store

#: M of mIoU@M: one budget step for every budget, one per budget (keyed by its text), or None
#: for the paper's default I + 2S.
MiouAt = float | Mapping[str, float] | None


@dataclass(frozen=True)
class RunRecord:
    """One finished run and its cycles."""

    key: str
    config: ExperimentConfig
    cycles: list[CycleRow]

    @property
    def dataset(self) -> str:
        return self.config.data.name

    @property
    def pool(self) -> str:
        return self.config.pool.kind

    @property
    def pool_id(self) -> tuple[str, str, int | None]:
        """What identifies a pool: dataset, kind and size."""
        return self.dataset, self.pool, self.config.pool.size

    @property
    def budget(self) -> str:
        return self.config.budget.label()

    @property
    def ssl(self) -> str:
        return self.config.ssl.method

    @property
    def strategy(self) -> str:
        return self.config.strategy

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def is_reference(self) -> bool:
        return self.strategy == FULL

    @property
    def mc_dropout(self) -> bool:
        """An MC-dropout network (BALD, 100% (MCD)): compared only with others of its kind."""
        return head_dropout(self.config) > 0

    @property
    def method(self) -> str:
        """Row label: ``Coreset``, ``Coreset-SSL (s4gan)``, ``100%`` or ``100% (MCD)``."""
        return method_label(self.config)

    @cached_property
    def fractions(self) -> list[float]:
        return [c.result.nominal_fraction for c in self.cycles]

    @cached_property
    def mious(self) -> list[float]:
        return [c.result.miou for c in self.cycles]

    @property
    def miou_at_budget(self) -> float:
        return self.mious[-1]

    def miou_at(self, m: float) -> float:
        """mIoU at the budget step ``m`` (a reference: its one mIoU); ConfigError if no step."""
        if self.is_reference:
            return self.miou_at_budget
        return miou_at_step(self.config.budget, self.mious, m)

    @property
    def auc_at_budget(self) -> float:
        """AUC over the run's own budget (a reference's AUC depends on the table's budget; a
        one-shot run has none)."""
        if self.is_reference or len(self.mious) < len(budget_steps(self.config.budget)):
            return math.nan
        return auc_at_budget(self.fractions, self.mious)

    def diagnostic(self, name: str) -> float:
        """Mean of one selection diagnostic over the run's acquisitions (nan without any)."""
        values = [c.result.diagnostics.get(name) for c in self.cycles if c.acquired]
        values = [float(v) for v in values if v is not None]
        return float(np.mean(values)) if values else math.nan


def load_records(store: Store) -> list[RunRecord]:
    """The finished runs of the store's study (all finished runs if it lists none), in order."""
    study_keys = store.meta("runs")
    runs = [run for run in store.runs() if run.status == "done"]
    if study_keys is not None:
        order = {key: i for i, key in enumerate(study_keys)}
        runs = sorted((r for r in runs if r.key in order), key=lambda r: order[r.key])
    return [RunRecord(run.key, run.config, store.cycles(run.key)) for run in runs]


def budget_ms(records: list[RunRecord], miou_at: MiouAt = None) -> dict[str, float]:
    """M of mIoU@M per budget (label) of the runs: ``miou_at`` or the default I + 2S (the last
    step of absolute budgets). ConfigError when it is not a step of a budget, or names none."""
    budgets = {r.budget: r.config.budget for r in records if not r.is_reference}
    requested: Mapping[str, float] = {}
    if isinstance(miou_at, Mapping):
        requested = {BudgetConfig.parse(text).label(): m for text, m in miou_at.items()}
        unknown = sorted(set(requested) - set(budgets))
        if unknown:
            raise ConfigError(
                f"mIoU@M given for budget(s) {', '.join(unknown)} that no run used; "
                f"the runs' budgets: {', '.join(budgets)}"
            )
    elif miou_at is not None:
        requested = dict.fromkeys(budgets, miou_at)
    ms = {}
    for label, budget in budgets.items():
        m = float(requested[label]) if label in requested else default_m(budget)
        step_index(budget, m)
        ms[label] = m
    return ms


VIDEO_DATASETS = frozenset({"a2d2", "synthdrive", "camvid"})


def redundancy(dataset: str, kind: str) -> str:
    """The pool's regime in the paper's guide: "diverse" (single frames: 0f, random; or a whole
    curated dataset), "redundant" (groups of >= 5 consecutive frames, Pool-Aug, or a whole video
    dataset), "moderate" (2f-4f) or "unknown" (a list file without an Xf name)."""
    if kind in ("0f", "random"):
        return "diverse"
    if kind == "all":
        return "redundant" if dataset in VIDEO_DATASETS else "diverse"
    if kind == "aug":
        return "redundant"
    match = re.search(r"(?:^|[^0-9])([0-9]+)f(?:$|[^a-z])", kind)
    if match is None:
        return "unknown"
    frames = int(match.group(1))
    return "diverse" if frames <= 1 else "redundant" if frames >= 5 else "moderate"
