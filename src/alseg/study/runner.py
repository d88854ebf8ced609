"""Orchestration of a study: plan the grid against the store, then run what is missing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alseg.acquisition.registry import FULL
from alseg.config import ExperimentConfig
from alseg.devices import resolve_device
from alseg.errors import ConfigError, DataError
from alseg.io import atomic_write_bytes
from alseg.labels import method_label
from alseg.loop import make_setup, schedule
from alseg.study.config import StudyConfig, expand, study_to_yaml
from alseg.study.executors import (
    Executor,
    Planned,
    RunContext,
    RunFailure,
    StudyProgress,
    make_executor,
)
from alseg.study.store import Store, study_lock
from alseg.study.worker import SetupFactory, shared_key

STUDY_FILE = "study.yaml"


@dataclass
class StudyPlan:
    """The study's runs with what the store already holds of them."""

    study: StudyConfig
    runs: list[Planned]
    statuses: dict[str, str]
    cycles_done: dict[str, int]
    shared_done: set[str]

    @property
    def todo(self) -> list[Planned]:
        return [run for run in self.runs if self.statuses.get(run.key) != "done"]

    def cycles_left(self) -> int:
        return sum(run.cycles - self.cycles_done.get(run.key, 0) for run in self.todo)

    def trainings_left(self) -> int:
        """Model trainings still to do: a shared cycle 0 counts once for all its runs."""
        trainings = 0
        shared: set[str] = set()
        for run in self.todo:
            done = self.cycles_done.get(run.key, 0)
            trainings += run.cycles - done
            key = shared_key(run.config)
            if key is not None and done == 0:
                trainings -= 1
                shared.add(key)
        return trainings + len(shared - self.shared_done)


@dataclass
class StudyOutcome:
    plan: StudyPlan
    executed: int
    failures: list[RunFailure]
    seconds: float


def cycle_count(config: ExperimentConfig) -> int:
    """Cycles of a run (from the pool size where the config fixes it, which also checks the
    budget fits the pool)."""
    if config.pool.size is not None:
        return len(schedule(config, config.pool.size))
    return 1 if config.strategy == FULL else config.budget.cycles


def run_label(config: ExperimentConfig) -> str:
    """Short name of a run for progress lines, e.g. ``Entropy synthdrive/11f 10-10@50 s0``."""
    budget = "" if config.strategy == FULL else f" {config.budget.label()}"
    pool = f"{config.data.name}/{config.pool.kind}"
    return f"{method_label(config)} {pool}{budget} s{config.seed}"


def plan_study(study: StudyConfig, out_dir: str | Path) -> StudyPlan:
    """Expand and validate the study (no data is read), and look up what is already stored (the
    store is opened read-only: planning writes nothing)."""
    configs = expand(study)
    _check_encoders(configs)
    runs = [Planned(config, run_label(config), cycle_count(config)) for config in configs]
    if not Store.exists(out_dir):
        return StudyPlan(study, runs, {}, {}, set())
    return _stored_plan(study, runs, Store(out_dir, read_only=True))


def _stored_plan(study: StudyConfig, runs: list[Planned], store: Store) -> StudyPlan:
    keys = {shared_key(run.config) for run in runs} - {None}
    shared = {key for key in keys if key is not None and store.shared(key) is not None}
    return StudyPlan(study, runs, store.statuses(), store.cycle_counts(), shared)


def check_data(runs: list[Planned]) -> None:
    """One DataError naming all the runs read but cannot find on this machine: data roots that
    are not folders, pool lists (``list:FILE``) that are not files, and roots a dataset needs
    but was not given. A run opens these first, so a dry run catches them before any training."""
    from alseg.data.registry import needs_root

    problems: dict[str, None] = {}  # in order, once each
    for run in runs:
        data, pool = run.config.data, run.config.pool
        if data.root is None and needs_root(data.name):
            problems[f"dataset {data.name} needs a data root (--data-root PATH)"] = None
        elif data.root is not None and not Path(data.root).is_dir():
            problems[f"data root {data.root} (not a folder)"] = None
        listed = pool.kind.removeprefix("list:")
        if listed != pool.kind and not Path(listed).is_file():
            problems[f"pool list {listed} (not a file)"] = None
    if problems:
        raise DataError(f"data the study reads is missing: {'; '.join(problems)}")


def _check_encoders(configs: list[ExperimentConfig]) -> None:
    """Every encoder exists and a registered one (wrn38) names its ImageNet weights file (the
    file itself need not exist yet: only a run reads it)."""
    from alseg.models.encoders import check_weights_path, is_known_encoder, list_encoders

    models = {config.model for config in configs}
    for model in sorted(models, key=lambda m: (m.encoder, m.weights, m.weights_path or "")):
        if not is_known_encoder(model.encoder):
            raise ConfigError(
                f"unknown encoder {model.encoder!r}; any timm model name works, "
                f"or {', '.join(list_encoders())}"
            )
        check_weights_path(model.encoder, model.weights, model.weights_path)


def run_study(
    study: StudyConfig,
    out_dir: str | Path,
    executor: Executor | str = "local",
    device: str = "auto",
    dry_run: bool = False,
    console: Console | None = None,
    setup_factory: SetupFactory = make_setup,
    restart: Sequence[str] = (),
    overwrite: bool = False,
) -> StudyOutcome:
    """Run every experiment of ``study`` that ``out_dir``'s store does not hold yet.

    Re-running resumes: finished runs are skipped, interrupted ones restart at their first
    unfinished cycle; the runs keyed in ``restart`` start again from cycle 0. The folder is locked
    for this process while it runs (``study_lock``). ``dry_run`` only validates and prints the
    plan (nothing is written), then stops with a DataError if data the runs read is missing;
    a real run on this machine checks that before anything is written (a multi-node Ray study
    leaves it to the workers, whose nodes hold the data)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    plan = plan_study(study, out_dir)
    if dry_run:
        if console is not None:
            console.print(plan_table(plan))
            console.print(plan_summary(plan))
        check_data(plan.runs)
        return StudyOutcome(plan, 0, [], time.perf_counter() - started)
    if isinstance(executor, str):
        executor = make_executor(executor)
    if executor.name == "local":
        resolve_device(device)
    else:  # the workers resolve it on their own nodes
        _check_device_name(device)
    if not executor.multi_node:
        check_data(plan.runs)
    if unknown := sorted(set(restart) - {run.key for run in plan.runs}):
        raise ConfigError(f"--restart {unknown[0]}: no run of study {study.name} has that key")
    with study_lock(out_dir):
        store = Store(out_dir)
        if not overwrite:
            _check_same_study(store, study, plan.runs)
        store.restart_runs(restart)
        store.save_meta("study", study.model_dump(mode="json"))
        store.save_meta("runs", [run.key for run in plan.runs])
        atomic_write_bytes(out_dir / STUDY_FILE, study_to_yaml(study).encode())
        store.register(run.config for run in plan.runs)
        plan = _stored_plan(study, plan.runs, store)  # as stored now that the folder is ours
        todo = plan.todo
        if console is not None:
            console.print(plan_summary(plan))
        context = RunContext(str(out_dir), device, study.save_embeddings, setup_factory)
        with StudyProgress(console, store, plan.runs) as progress:
            failures = executor.execute(todo, context, progress)
    return StudyOutcome(plan, len(todo), failures, time.perf_counter() - started)


def _check_same_study(store: Store, study: StudyConfig, runs: list[Planned]) -> None:
    """Refuse to write another study into a folder: a new name, or a grid that leaves out runs
    the folder holds (the report would no longer show them). Growing a study is fine."""
    stored_study, stored_runs = store.meta("study"), store.meta("runs") or []
    if stored_study is None:
        return
    dropped = set(stored_runs) - {run.key for run in runs}
    if stored_study.get("name") != study.name or dropped:
        what = (
            f"study {stored_study.get('name')!r}"
            if stored_study.get("name") != study.name
            else f"{len(dropped)} runs this grid leaves out"
        )
        raise ConfigError(
            f"{store.directory} holds {what}; give another --out, or --overwrite to make "
            f"{study.name!r} the folder's study (stored runs stay in the store)"
        )


def _check_device_name(device: str) -> None:
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; allowed: auto, cpu, cuda")


def plan_summary(plan: StudyPlan) -> str:
    done = len(plan.runs) - len(plan.todo)
    roots = sorted({run.config.data.root for run in plan.runs if run.config.data.root})
    where = f", data in {', '.join(roots)}" if roots else ""
    return (
        f"study {plan.study.name}: {len(plan.runs)} runs ({done} done), "
        f"{plan.cycles_left()} cycles and {plan.trainings_left()} model trainings to go "
        f"(cycle 0 trained once per initial set){where}"
    )


def plan_table(plan: StudyPlan) -> Table:
    table = Table(title=f"study {plan.study.name}")
    for column in ("#", "dataset", "pool", "size", "budget", "ssl", "strategy", "seed"):
        table.add_column(column)
    table.add_column("cycles", justify="right")
    table.add_column("status")
    for number, run in enumerate(plan.runs, 1):
        c = run.config
        budget = "" if c.strategy == FULL else c.budget.label()
        done = plan.cycles_done.get(run.key, 0)
        status = plan.statuses.get(run.key, "new")
        table.add_row(
            str(number),
            c.data.name,
            c.pool.kind,
            "all" if c.pool.size is None else str(c.pool.size),
            budget,
            c.ssl.method,
            method_label(c) if c.strategy == FULL else c.strategy,
            str(c.seed),
            f"{done}/{run.cycles}",
            status,
        )
    return table
