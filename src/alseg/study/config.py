"""A study: the grid of pools x budgets x SSL methods x strategies x seeds, and its expansion."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from alseg.acquisition.registry import FULL, check_strategy
from alseg.config import (
    BudgetConfig,
    ExperimentConfig,
    SSLConfig,
    Strict,
    build,
    check_seed,
    read_yaml_settings,
)
from alseg.data.pools import check_pool_kind
from alseg.data.registry import list_datasets
from alseg.errors import AlsegError, ConfigError

#: Settings a study varies itself; its ``base`` may not set them.
GRID_SETTINGS = ("pool", "strategy", "strategy_options", "seed", "budget")
#: MC-dropout rate of BALD's own 100% reference (SPEC §2).
MCD_DROPOUT = 0.5


class PoolSpec(Strict):
    """One dataset and the pool drawn from it."""

    dataset: str = "synthdrive"
    root: str | None = None
    kind: str = "11f"
    size: int | None = 400
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)  # dataset options (merged into base)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name not in list_datasets():
            raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(list_datasets())}")
        return name

    @field_validator("seed")
    @classmethod
    def _valid_seed(cls, seed: int) -> int:
        return check_seed(seed)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        try:
            check_pool_kind(kind)
        except AlsegError as error:
            raise ValueError(str(error)) from None
        return kind


class StudyConfig(Strict):
    """The grid of a study; ``base`` holds every other experiment setting (model, train, ...)."""

    name: str
    pools: list[PoolSpec] = Field(min_length=1)
    strategies: list[str] = Field(min_length=1)
    ssl: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    ssl_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    strategy_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    budgets: list[BudgetConfig] = Field(default_factory=lambda: [BudgetConfig()], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    base: dict[str, Any] = Field(default_factory=dict)
    include_full_reference: bool = True
    save_embeddings: bool = True  # cycle-0 pool embeddings for the report's t-SNE figure

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError(f"study name {name!r} may hold only letters, digits, '_', '.', '-'")
        return name

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, names: list[str]) -> list[str]:
        for name in names:
            if name == FULL:
                raise ValueError(
                    "strategy 'full' is not an acquisition function; the 100% reference "
                    "comes from include_full_reference"
                )
            try:
                check_strategy(name)
            except AlsegError as error:
                raise ValueError(str(error)) from None
        return _unique(names, "strategies")

    @field_validator("ssl")
    @classmethod
    def _known_ssl(cls, methods: list[str]) -> list[str]:
        for method in methods:
            SSLConfig._known_trainer(method)  # ValueError for an unknown trainer
        return _unique(methods, "ssl")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        for seed in seeds:
            check_seed(seed)
        return _unique(seeds, "seeds")

    @field_validator("budgets", mode="before")
    @classmethod
    def _parse_budgets(cls, budgets: Any) -> Any:
        if isinstance(budgets, str | dict | BudgetConfig):
            budgets = [budgets]
        if isinstance(budgets, list):
            return [BudgetConfig.parse(b) if isinstance(b, str) else b for b in budgets]
        return budgets

    @model_validator(mode="after")
    def _valid_base(self) -> StudyConfig:
        for name in GRID_SETTINGS:
            if name in self.base:
                raise ValueError(f"base may not set {name!r}: the study's grid sets it")
        for section, field in (("data", "name"), ("data", "root"), ("ssl", "method")):
            if field in self.base.get(section, {}):
                raise ValueError(f"base may not set {section}.{field}: the study's grid sets it")
        try:
            build(ExperimentConfig, **self.base)
        except ConfigError as error:
            raise ValueError(f"base: {error}") from None
        for name, options in self.strategy_options.items():
            if name not in self.strategies:
                raise ValueError(f"strategy_options names {name!r}, which the study does not run")
            try:
                check_strategy(name, options)
            except AlsegError as error:
                raise ValueError(str(error)) from None
        return self


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} lists a value twice: {values}")
    return values


def load_study(path: str | Path) -> StudyConfig:
    """Read a study YAML file (safe_load); its name defaults to the file's stem."""
    path = Path(path)
    values = read_yaml_settings(path, "study file")
    values.setdefault("name", path.stem)
    return build(StudyConfig, **values)


def study_to_yaml(study: StudyConfig) -> str:
    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)


def with_data_root(study: StudyConfig, root: str | Path) -> StudyConfig:
    """The study with every pool's data root replaced (for presets of data on disk)."""
    values = study.model_dump()
    for pool in values["pools"]:
        pool["root"] = str(root)
    return build(StudyConfig, **values)


def expand(study: StudyConfig) -> list[ExperimentConfig]:
    """Every experiment of the study, without duplicates, in a fixed order: per pool and seed,
    budgets x SSL methods x strategies (runs that can share cycle 0 are adjacent), then the 100%
    references (and BALD's MC-dropout reference when BALD is in the grid)."""
    configs: dict[str, ExperimentConfig] = {}
    for pool in study.pools:
        for seed in study.seeds:
            for budget in study.budgets:
                for ssl in study.ssl:
                    for strategy in study.strategies:
                        config = _experiment(study, pool, seed, budget, ssl, strategy)
                        configs.setdefault(config.key(), config)
            if study.include_full_reference:
                for reference in _references(study, pool, seed):
                    configs.setdefault(reference.key(), reference)
    return list(configs.values())


def _references(study: StudyConfig, pool: PoolSpec, seed: int) -> list[ExperimentConfig]:
    """The 100% run; its budget is the default one (a reference trains once, whatever the
    budget: the report computes its AUC for each budget of the study)."""
    full = _experiment(study, pool, seed, BudgetConfig(), "none", FULL)
    references = [full]
    if "bald" in study.strategies:
        model = full.model.model_copy(update={"head_dropout": MCD_DROPOUT})
        references.append(full.model_copy(update={"model": model}))
    return [build(ExperimentConfig, **r.model_dump()) for r in references]


def _experiment(
    study: StudyConfig, pool: PoolSpec, seed: int, budget: BudgetConfig, ssl: str, strategy: str
) -> ExperimentConfig:
    values = copy.deepcopy(study.base)
    data = values.setdefault("data", {})
    data["name"], data["root"] = pool.dataset, pool.root
    data["options"] = {**data.get("options", {}), **pool.options}
    values["pool"] = {"kind": pool.kind, "size": pool.size, "seed": pool.seed}
    values["budget"] = budget.model_dump()
    values["ssl"] = SSLConfig(method=ssl, options=study.ssl_options.get(ssl, {})).model_dump()
    values["strategy"] = strategy
    values["strategy_options"] = study.strategy_options.get(strategy, {})
    values["seed"] = seed
    return build(ExperimentConfig, **values)
