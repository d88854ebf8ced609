"""The active-learning cycle (SPEC §3): train a fresh model, evaluate, acquire the next images."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from alseg.acquisition.base import PoolView
from alseg.acquisition.inference import infer_pool
from alseg.acquisition.strategies import FULL, get_strategy
from alseg.config import BudgetConfig, ExperimentConfig
from alseg.data.base import SegDataset
from alseg.data.registry import create_dataset
from alseg.diagnostics import selection_diagnostics
from alseg.errors import ConfigError
from alseg.evaluate import evaluate
from alseg.metrics import auc_at_budget
from alseg.models import SegmentationModel, build_model
from alseg.train import fit


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
class CycleResult:
    cycle: int
    labeled: int
    fraction: float  # labeled / pool size
    nominal_fraction: float  # the budget step (I + c*S) / 100, used for AUC
    miou: float
    per_class_iou: dict[str, float | None]
    added: list[int]  # pool indices that joined the labeled set in this cycle
    added_ids: list[str]  # their "sequence/frame"
    train_seconds: float
    eval_seconds: float
    score_seconds: float
    train_loss: float
    diagnostics: dict[str, float | int] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    config: dict[str, Any]
    strategy: str
    label: str  # e.g. "coreset-SSL (s4gan)"
    pool_size: int
    cycles: list[CycleResult]
    miou_at_budget: float
    auc_at_budget: float
    budget: str
    ssl: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Setup:
    """Datasets and pool for one experiment, built once from its config."""

    config: ExperimentConfig
    pool: SegDataset
    val: SegDataset
    device: torch.device


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; allowed: auto, cpu, cuda")
    return torch.device(name)


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
    pool = build_pool(train, config.pool.kind, config.pool.size, config.pool.seed)
    return Setup(config, pool, val, device)


def budget_schedule(budget: BudgetConfig, pool_size: int) -> list[tuple[float, int]]:
    """(nominal fraction, labeled count) per cycle: floor(I*N) then + floor(S*N) up to B."""
    if budget.absolute is not None:
        initial, step, cycles = budget.absolute
        counts = [initial + c * step for c in range(cycles)]
        schedule = [(count / pool_size, count) for count in counts]
    else:
        initial = math.floor(budget.initial * pool_size / 100 + 1e-9)
        step = math.floor(budget.step * pool_size / 100 + 1e-9)
        cycles = 1 + (
            math.floor((budget.until - budget.initial) / budget.step + 1e-9) if budget.step else 0
        )
        schedule = [
            ((budget.initial + c * budget.step) / 100, initial + c * step) for c in range(cycles)
        ]
    if schedule[0][1] < 1:
        raise ConfigError(
            f"budget {budget.label()}: the initial set of a pool of {pool_size} images is empty; "
            "use a larger initial percentage or pool"
        )
    if len(schedule) > 1 and schedule[1][1] == schedule[0][1]:
        raise ConfigError(
            f"budget {budget.label()}: a step of a pool of {pool_size} images adds 0 images; "
            "use a larger step or pool"
        )
    if schedule[-1][1] > pool_size:
        raise ConfigError(
            f"budget {budget.label()} needs {schedule[-1][1]} images but the pool holds {pool_size}"
        )
    return schedule


def initial_set(pool_size: int, count: int, seed: int) -> np.ndarray:
    """The first ``count`` of a seeded shuffle: the same for every strategy with this seed."""
    return np.random.default_rng(seed).permutation(pool_size)[:count]


def fresh_model(
    config: ExperimentConfig, num_classes: int, head_dropout: float
) -> SegmentationModel:
    m = config.model
    return build_model(
        num_classes,
        encoder=m.encoder,
        weights=m.weights,
        head_dropout=max(m.head_dropout, head_dropout),
        output_stride=m.output_stride,
        aspp_dropout=m.aspp_dropout,
    )


def cycle_seed(seed: int, cycle: int, purpose: int) -> int:
    return int(np.random.SeedSequence([seed, cycle, purpose]).generate_state(1)[0])


def iterate_cycles(
    setup: Setup,
    reporter: Reporter | None = None,
    labeled: np.ndarray | None = None,
    start_cycle: int = 0,
) -> Iterator[CycleResult]:
    """Run the cycles from ``start_cycle`` (with its ``labeled`` set), yielding each result."""
    reporter = reporter or SilentReporter()
    config = setup.config
    n = len(setup.pool)
    if config.strategy == FULL:
        yield from _full_reference(setup, reporter)
        return
    strategy = get_strategy(config.strategy)
    schedule = budget_schedule(config.budget, n)
    if labeled is None:
        labeled = initial_set(n, schedule[0][1], config.seed)
    added = labeled.copy() if start_cycle == 0 else np.asarray([], dtype=np.int64)
    diagnostics: dict[str, float | int] = {}
    previous: SegmentationModel | None = None
    for cycle in range(start_cycle, len(schedule)):
        nominal, _ = schedule[cycle]
        torch.manual_seed(cycle_seed(config.seed, cycle, 0))
        model = fresh_model(config, setup.pool.num_classes, strategy.head_dropout)
        if config.train.keep_head and previous is not None:
            keep_head(model, previous)
        result, model = train_and_evaluate(setup, model, labeled, cycle, len(schedule), reporter)
        result.nominal_fraction = nominal
        result.added = added.tolist()
        result.added_ids = [_frame_id(setup.pool, i) for i in added]
        result.diagnostics = diagnostics
        if cycle + 1 < len(schedule):
            k = schedule[cycle + 1][1] - len(labeled)
            started = time.perf_counter()
            added, diagnostics = acquire(setup, model, strategy.name, labeled, k, cycle, reporter)
            result.score_seconds = time.perf_counter() - started
            labeled = np.concatenate([labeled, added])
        previous = model
        reporter.cycle_finished(result)
        yield result


def acquire(
    setup: Setup,
    model: SegmentationModel,
    strategy_name: str,
    labeled: np.ndarray,
    k: int,
    cycle: int,
    reporter: Reporter,
) -> tuple[np.ndarray, dict[str, float | int]]:
    """Pick ``k`` unlabeled pool indices with the strategy, and the diagnostics of the picks."""
    config = setup.config
    strategy = get_strategy(strategy_name)
    n = len(setup.pool)
    is_labeled = np.zeros(n, dtype=bool)
    is_labeled[labeled] = True
    unlabeled = np.flatnonzero(~is_labeled)
    metas = [setup.pool.meta(i) for i in range(n)]
    needs = set(strategy.needs) | {"embedding"}  # embeddings feed the diagnostics too
    mc_passes = int(config.strategy_options.get("mc_passes", 20))
    results = infer_pool(
        model,
        setup.pool,
        np.arange(n),
        needs,
        setup.device,
        batch_size=config.eval_batch_size,
        mc_passes=mc_passes,
        seed=cycle_seed(config.seed, cycle, 2),
        workers=config.train.workers,
        on_batch=lambda done, total: reporter.phase("scoring", done, total),
    )
    view = PoolView(
        labeled=labeled,
        unlabeled=unlabeled,
        sequences=[m.sequence for m in metas],
        frames=np.asarray([m.frame for m in metas]),
        results=results,
    )
    rng = np.random.default_rng(cycle_seed(config.seed, cycle, 3))
    picks = np.asarray(strategy.select(view, k, rng, dict(config.strategy_options)), dtype=np.int64)
    _check_picks(picks, k, is_labeled, strategy.name)
    groups = np.asarray([m.group for m in metas])
    diagnostics = selection_diagnostics(
        picks, unlabeled, view.sequences, view.frames, groups, results.get("embedding")
    )
    return picks, diagnostics


def _check_picks(picks: np.ndarray, k: int, is_labeled: np.ndarray, name: str) -> None:
    if len(picks) != k or len(np.unique(picks)) != k or is_labeled[picks].any():
        raise RuntimeError(f"strategy {name} returned an invalid selection of {len(picks)} (k={k})")


def train_and_evaluate(
    setup: Setup,
    model: SegmentationModel,
    labeled: np.ndarray,
    cycle: int,
    cycles: int,
    reporter: Reporter,
) -> tuple[CycleResult, SegmentationModel]:
    from alseg.data.base import SubsetDataset

    config = setup.config
    n = len(setup.pool)
    labeled_set = SubsetDataset(setup.pool, np.sort(labeled))
    unlabeled_set = SubsetDataset(setup.pool, np.setdiff1d(np.arange(n), labeled))
    reporter.cycle_started(cycle, cycles, len(labeled), config.train.iterations(len(labeled)))
    fitted = fit(
        model,
        labeled_set,
        unlabeled_set,
        config.train,
        config.ssl,
        setup.device,
        cycle_seed(config.seed, cycle, 1),
        reporter.train_step,
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
    result = CycleResult(
        cycle=cycle,
        labeled=len(labeled),
        fraction=len(labeled) / n,
        nominal_fraction=len(labeled) / n,
        miou=100.0 * matrix.miou(config.absent, getattr(setup.val, "used_class_ids", None)),
        per_class_iou={
            names[c]: (None if np.isnan(iou[c]) else 100.0 * float(iou[c]))
            for c in range(len(names))
        },
        added=[],
        added_ids=[],
        train_seconds=fitted.seconds,
        eval_seconds=time.perf_counter() - started,
        score_seconds=0.0,
        train_loss=fitted.final_loss,
    )
    return result, model


def _full_reference(setup: Setup, reporter: Reporter) -> Iterator[CycleResult]:
    """The 100% reference: one model trained on the whole pool."""
    everything = np.arange(len(setup.pool))
    torch.manual_seed(cycle_seed(setup.config.seed, 0, 0))
    model = fresh_model(setup.config, setup.pool.num_classes, 0.0)
    result, _ = train_and_evaluate(setup, model, everything, 0, 1, reporter)
    result.nominal_fraction = 1.0
    reporter.cycle_finished(result)
    yield result


def keep_head(model: SegmentationModel, previous: SegmentationModel) -> None:
    """Copy decoder and segmentation head from the last cycle's model (official supervised code)."""
    model.net.decoder.load_state_dict(previous.net.decoder.state_dict())
    model.net.segmentation_head.load_state_dict(previous.net.segmentation_head.state_dict())


def _frame_id(pool: SegDataset, index: int) -> str:
    meta = pool.meta(int(index))
    return f"{meta.sequence}/{meta.frame}"


def run_label(strategy: str, ssl: str) -> str:
    """How curves and tables name a run: ``<strategy>-SSL (<method>)`` when SSL is used."""
    return strategy if ssl == "none" else f"{strategy}-SSL ({ssl})"


def summarize(setup: Setup, cycles: list[CycleResult]) -> ExperimentResult:
    """mIoU@B (last cycle) and AUC@B (trapezoid over the nominal fractions I..B)."""
    config = setup.config
    last = cycles[-1]
    if config.strategy == FULL:
        budget = config.budget
        span = (budget.until - budget.initial) / 100 if budget.absolute is None else 0.0
        auc = last.miou * span
    else:
        auc = auc_at_budget([c.nominal_fraction for c in cycles], [c.miou for c in cycles])
    return ExperimentResult(
        config=config.model_dump(mode="json"),
        strategy=config.strategy,
        label=run_label(config.strategy, config.ssl.method),
        ssl=config.ssl.method,
        pool_size=len(setup.pool),
        cycles=cycles,
        miou_at_budget=last.miou,
        auc_at_budget=auc,
        budget=config.budget.label(),
    )
