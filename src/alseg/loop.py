"""The active-learning engine (SPEC §3): the only implementation of a cycle.

A cycle trains a model on the labeled set, evaluates it, and (unless it is the last) acquires the
next images with ``select_next``. The engine's state between cycles is a :class:`LoopState`; its
two hooks (:class:`LoopHooks`) decide where a cycle's trained model comes from (a fresh model, the
last cycle's head kept, or the study's shared cycle-0 checkpoint) and what happens to a finished
cycle (``alseg run`` collects it for results.json, a study commits it to its store). Each finished
cycle is one immutable :class:`CycleResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Protocol

import numpy as np
import torch

from alseg.acquisition.poolstore import PoolResultsStore
from alseg.acquisition.registry import FULL, get_strategy
from alseg.acquisition.select import select_next
from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult, Evaluation
from alseg.data.base import SegDataset, SubsetDataset
from alseg.data.registry import create_dataset
from alseg.devices import cpu_bf16
from alseg.diagnostics import selection_diagnostics
from alseg.errors import ConfigError
from alseg.evaluate import evaluate
from alseg.labels import method_label
from alseg.metrics import auc_at_budget, budget_steps, default_m, miou_at_step
from alseg.models import SegmentationModel, build_model
from alseg.seeds import MODEL_INIT, TRAINING, cycle_seed
from alseg.train import FitRequest, fit


class Reporter(Protocol):
    """Receives progress events; the CLI draws them, tests ignore them."""

    def cycle_started(self, cycle: int, cycles: int, labeled: int, iterations: int) -> None: ...
    def train_step(self, iteration: int, total: int, loss: float) -> None: ...
    def phase(self, name: str, done: int, total: int) -> None: ...
    def cycle_finished(self, result: CycleResult) -> None: ...


class SilentReporter:
    def cycle_started(self, cycle: int, cycles: int, labeled: int, iterations: int) -> None:
        pass

    def train_step(self, iteration: int, total: int, loss: float) -> None:
        pass

    def phase(self, name: str, done: int, total: int) -> None:
        pass

    def cycle_finished(self, result: CycleResult) -> None:
        pass


@dataclass
class ExperimentResult:
    config: dict[str, Any]
    strategy: str
    label: str  # method_label of the config, e.g. "Coreset-SSL (s4gan)"
    pool_size: int
    cycles: list[CycleResult]
    miou_at_budget: float
    auc_at_budget: float
    budget: str
    m: float  # the budget step of mIoU@M (percent of the pool, or images for N+MxC budgets)
    miou_at_m: float
    ssl: str = "none"
    #: what the data reported while read (e.g. A2D2's unknown label colours), per split
    data_notes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["cycles"] = [c.model_dump() for c in self.cycles]
        return values


@dataclass
class Setup:
    """Datasets and pool for one experiment, built once from its config. ``pool_results_dir``:
    where acquisition keeps pool results when ``config.pool_results`` is on disk (None: a
    temporary folder per acquisition)."""

    config: ExperimentConfig
    pool: SegDataset
    val: SegDataset
    device: torch.device
    pool_results_dir: Path | None = None


@dataclass(frozen=True)
class LoopState:
    """Where a run stands before cycle ``cycle``: the labeled pool indices it trains on, the
    ones that joined last, and the previous cycle's model (for keep_head)."""

    cycle: int
    labeled: np.ndarray
    added: np.ndarray
    previous: SegmentationModel | None = None


@dataclass(frozen=True)
class TrainedCycle:
    model: SegmentationModel
    evaluation: Evaluation


class LoopHooks:
    """The engine's seams; the defaults train a fresh DeepLabv3+ every cycle and keep nothing."""

    def new_model(self, setup: Setup) -> SegmentationModel:
        """The untrained model a cycle starts from (the torch RNG is seeded per cycle first)."""
        return fresh_model(setup.config, setup.pool.num_classes)

    def trained_cycle(self, state: LoopState, train: Callable[[], TrainedCycle]) -> TrainedCycle:
        """The cycle's trained and evaluated model; ``train()`` trains one as the config says."""
        return train()

    def cycle_done(self, result: CycleResult, model: SegmentationModel, state: LoopState) -> None:
        """Called once per finished cycle, before the next one starts."""


def dataset_options(config: ExperimentConfig) -> dict[str, Any]:
    options = dict(config.data.options)
    if config.data.name == "synthdrive" and config.data.image_size is not None:
        options.setdefault("image_size", tuple(config.data.image_size))
    return options


def make_setup(config: ExperimentConfig, device: torch.device) -> Setup:
    from alseg.data.pools import build_pool

    options = dataset_options(config)
    train = create_dataset(config.data.name, "train", config.data.root, **options)
    val = create_dataset(config.data.name, "val", config.data.root, **options)
    pool = build_pool(
        train, config.pool.kind, config.pool.size, config.pool.seed, config.pool.dedupe
    )
    return Setup(config, pool, val, device)


def schedule(config: ExperimentConfig, pool_size: int) -> list[tuple[float, int]]:
    """(nominal fraction, labeled count) per cycle; the 100% reference is one cycle of all, a
    one-shot strategy one cycle at the final budget."""
    if config.strategy == FULL:
        return [(1.0, pool_size)]
    steps = config.budget.schedule(pool_size)
    return steps[-1:] if get_strategy(config.strategy).one_shot else steps


def initial_set(pool_size: int, count: int, seed: int) -> np.ndarray:
    """The first ``count`` of a seeded shuffle: the same for every strategy with this seed."""
    return np.random.default_rng(seed).permutation(pool_size)[:count]


def initial_state(config: ExperimentConfig, pool: SegDataset) -> LoopState:
    """Cycle 0: the seeded random initial set (the whole pool for the 100% reference; drawn from
    the strategy's subset, or picked by a one-shot strategy, where it has one)."""
    n = len(pool)
    if config.strategy == FULL:
        labeled = np.arange(n)
        return LoopState(0, labeled, labeled.copy())
    count = schedule(config, n)[0][1]
    strategy = get_strategy(config.strategy)
    if strategy.one_shot:
        nothing = np.asarray([], dtype=np.int64)
        selection = select_next(
            None, pool, nothing, count, strategy, seed=config.seed, options=config.strategy_options
        )
        labeled = selection.picks
    elif strategy.subset is not None:
        metas = [pool.meta(i) for i in range(n)]
        options = strategy.parse_options(config.strategy_options)
        subset = strategy.subset(
            [m.sequence for m in metas], np.asarray([m.frame for m in metas]), options
        )
        final = schedule(config, n)[-1][1]
        if final > len(subset):
            raise ConfigError(
                f"budget {config.budget.label()} needs {final} images but strategy "
                f"{strategy.name!r} keeps {len(subset)} of the pool's {n}"
            )
        labeled = np.asarray(subset)[initial_set(len(subset), count, config.seed)]
    else:
        labeled = initial_set(n, count, config.seed)
    return LoopState(0, labeled, labeled.copy())


def head_dropout(config: ExperimentConfig) -> float:
    """The model's head dropout: the config's, raised to what the strategy needs (BALD)."""
    needed = 0.0 if config.strategy == FULL else get_strategy(config.strategy).head_dropout
    return max(config.model.head_dropout, needed)


def fresh_model(
    config: ExperimentConfig, num_classes: int, weights: str | None = None
) -> SegmentationModel:
    """DeepLabv3+ as the config describes it (``weights`` overrides the config's)."""
    m = config.model
    return build_model(
        num_classes,
        encoder=m.encoder,
        weights=weights or m.weights,
        head_dropout=head_dropout(config),
        output_stride=m.output_stride,
        aspp_dropout=m.aspp_dropout,
        weights_path=m.weights_path,
    )


def run_loop(
    setup: Setup,
    hooks: LoopHooks | None = None,
    reporter: Reporter | None = None,
    state: LoopState | None = None,
) -> Iterator[CycleResult]:
    """Run the cycles from ``state`` (default: cycle 0 with the seeded initial set)."""
    hooks = hooks or LoopHooks()
    reporter = reporter or SilentReporter()
    config = setup.config
    n = len(setup.pool)
    steps = schedule(config, n)
    state = state or initial_state(config, setup.pool)
    for cycle in range(state.cycle, len(steps)):
        current = state
        with cpu_bf16(config.train.cpu_bf16):
            trained = hooks.trained_cycle(
                current, partial(train_cycle, setup, current, len(steps), reporter, hooks.new_model)
            )
            acquired = np.asarray([], dtype=np.int64)
            diagnostics: dict[str, float | int | None] = {}
            started = time.perf_counter()
            if cycle + 1 < len(steps):
                k = steps[cycle + 1][1] - len(current.labeled)
                acquired, diagnostics = acquire(setup, trained.model, current, k, reporter)
        result = CycleResult(
            **trained.evaluation.model_dump(),
            cycle=cycle,
            labeled=len(current.labeled),
            fraction=len(current.labeled) / n,
            nominal_fraction=steps[cycle][0],
            added=current.added.tolist(),
            added_ids=[_frame_id(setup.pool, i) for i in current.added],
            acquired=acquired.tolist(),
            score_seconds=time.perf_counter() - started if len(acquired) else 0.0,
            diagnostics=diagnostics,
        )
        hooks.cycle_done(result, trained.model, current)
        reporter.cycle_finished(result)
        yield result
        labeled = np.concatenate([current.labeled, acquired])
        state = LoopState(cycle + 1, labeled, acquired, trained.model)


def train_cycle(
    setup: Setup,
    state: LoopState,
    cycles: int,
    reporter: Reporter,
    new_model: Callable[[Setup], SegmentationModel] | None = None,
) -> TrainedCycle:
    """A new model (seeded per cycle; keeps the last head if configured), trained on the
    labeled set and evaluated on the validation set."""
    config = setup.config
    torch.manual_seed(cycle_seed(config.seed, state.cycle, MODEL_INIT))
    model = (new_model or LoopHooks().new_model)(setup)
    if config.train.keep_head and state.previous is not None:
        model.copy_head_from(state.previous)
    n = len(setup.pool)
    reporter.cycle_started(
        state.cycle, cycles, len(state.labeled), config.train.iterations(len(state.labeled))
    )
    fitted = fit(
        FitRequest(
            model=model,
            labeled=SubsetDataset(setup.pool, np.sort(state.labeled)),
            unlabeled=SubsetDataset(setup.pool, np.setdiff1d(np.arange(n), state.labeled)),
            train=config.train,
            ssl=config.ssl,
            device=setup.device,
            seed=cycle_seed(config.seed, state.cycle, TRAINING),
            on_step=reporter.train_step,
        )
    )
    started = time.perf_counter()
    matrix = evaluate(
        model,
        setup.val,
        setup.device,
        config.eval_batch_size,
        config.max_val_images,
        workers=config.train.workers,
        on_batch=lambda done, total: reporter.phase("evaluating", done, total),
    )
    iou = matrix.iou()
    names = setup.val.class_names
    evaluation = Evaluation(
        miou=100.0 * matrix.miou(config.absent, getattr(setup.val, "used_class_ids", None)),
        per_class_iou={
            names[c]: (None if np.isnan(iou[c]) else 100.0 * float(iou[c]))
            for c in range(len(names))
        },
        train_seconds=fitted.seconds,
        eval_seconds=time.perf_counter() - started,
        train_loss=fitted.final_loss,
    )
    return TrainedCycle(model, evaluation)


def acquire(
    setup: Setup, model: SegmentationModel, state: LoopState, k: int, reporter: Reporter
) -> tuple[np.ndarray, dict[str, float | int | None]]:
    """The next ``k`` pool indices by the config's strategy, and the diagnostics of the picks.

    With ``pool_results`` on disk, the pass's results live in ``setup.pool_results_dir``, which
    keeps only the latest model's."""
    config = setup.config
    with ExitStack() as stack:
        folder = None if config.pool_results == "memory" else setup.pool_results_dir
        if config.pool_results != "memory" and folder is None:
            folder = Path(stack.enter_context(TemporaryDirectory(prefix="alseg-pool-results-")))
        selection = select_next(
            model,
            setup.pool,
            state.labeled,
            k,
            config.strategy,
            seed=config.seed,
            cycle=state.cycle,
            options=config.strategy_options,
            extra_needs=frozenset({"embedding"}),  # embeddings feed the diagnostics too
            device=setup.device,
            batch_size=config.eval_batch_size,
            workers=config.train.workers,
            on_batch=lambda done, total: reporter.phase("scoring", done, total),
            results_dir=folder,
            embedding_dtype="float16" if config.pool_results == "disk-float16" else "float32",
        )
        view = selection.view
        groups = np.asarray([setup.pool.meta(i).group for i in range(len(setup.pool))])
        diagnostics = selection_diagnostics(
            selection.picks, view.unlabeled, view.sequences, view.frames, groups, view.embeddings
        )
        if folder is not None:
            PoolResultsStore(folder).prune(keep=1)
    return selection.picks, diagnostics


def _frame_id(pool: SegDataset, index: int) -> str:
    meta = pool.meta(int(index))
    return f"{meta.sequence}/{meta.frame}"


def summarize(
    setup: Setup, cycles: list[CycleResult], miou_at: float | None = None
) -> ExperimentResult:
    """mIoU@B (last cycle), AUC@B (trapezoid over the nominal fractions I..B; NaN for a one-shot
    run) and mIoU@M at the budget step ``miou_at`` (default I + 2S, the paper's pairing;
    ConfigError if not a step; NaN for a step the run skipped). The 100% reference's mIoU@M is
    its one mIoU."""
    config = setup.config
    last = cycles[-1]
    m = default_m(config.budget) if miou_at is None else miou_at
    mious = [c.miou for c in cycles]
    miou_at_m = miou_at_step(config.budget, mious, m)  # a ConfigError if m is no step
    if config.strategy == FULL:
        auc = last.miou * config.budget.span(len(setup.pool))  # N+MxC: in fractions of N
        miou_at_m = last.miou
    elif len(cycles) < len(budget_steps(config.budget)):
        auc = float("nan")  # a one-shot run has no curve from I to B
    else:
        auc = auc_at_budget([c.nominal_fraction for c in cycles], mious)
    return ExperimentResult(
        config=config.model_dump(mode="json"),
        strategy=config.strategy,
        label=method_label(config),
        ssl=config.ssl.method,
        pool_size=len(setup.pool),
        cycles=cycles,
        miou_at_budget=last.miou,
        auc_at_budget=auc,
        budget=config.budget.label(),
        m=m,
        miou_at_m=miou_at_m,
        data_notes={
            split: notes
            for split, notes in (("pool", setup.pool.notes()), ("val", setup.val.notes()))
            if notes
        },
    )
