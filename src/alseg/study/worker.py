"""One experiment of a study, run into the store: cycle by cycle, resumable, cycle 0 shared.

A cycle is one unit: train, evaluate, acquire the next images, then commit all of it in one
transaction. A run restarts at its first uncommitted cycle from the stored labeled set. Runs that
start from the same initial set with the same model, training, SSL and seed (they differ only in
the strategy) share cycle 0: it is trained once, its model saved as a checkpoint, and every
strategy acquires from that checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alseg.acquisition.inference import infer_pool
from alseg.acquisition.strategies import FULL, get_strategy
from alseg.config import ExperimentConfig
from alseg.loop import (
    CycleResult,
    Reporter,
    Setup,
    SilentReporter,
    acquire,
    budget_schedule,
    cycle_seed,
    fresh_model,
    initial_set,
    iterate_cycles,
    keep_head,
    make_setup,
    train_and_evaluate,
)
from alseg.models import SegmentationModel
from alseg.results import atomic_write_bytes
from alseg.study.store import CycleRow, SharedRow, Store
from alseg.train.common import prepare

SetupFactory = Callable[[ExperimentConfig, torch.device], Setup]
CHECKPOINTS = "checkpoints"
EMBEDDINGS = "embeddings"


def shared_key(config: ExperimentConfig) -> str | None:
    """Identity of the run's cycle-0 training: its config without what only acquisition uses
    (strategy, strategy options, later budget steps, keep_head) and with the head dropout the
    strategy trains with. None for the 100% reference, which shares nothing."""
    if config.strategy == FULL:
        return None
    values = config.model_dump(mode="json")
    del values["strategy"], values["strategy_options"], values["train"]["keep_head"]
    budget = config.budget
    values["budget"] = (
        {"initial": budget.initial}
        if budget.absolute is None
        else {"initial_count": budget.absolute[0]}
    )
    values["model"]["head_dropout"] = _head_dropout(config)
    payload = json.dumps(values, sort_keys=True).encode()
    return "c0-" + hashlib.sha256(payload).hexdigest()[:16]


def _head_dropout(config: ExperimentConfig) -> float:
    return max(config.model.head_dropout, get_strategy(config.strategy).head_dropout)


def execute_run(
    config: ExperimentConfig,
    store: Store,
    device: torch.device,
    setup_factory: SetupFactory = make_setup,
    reporter: Reporter | None = None,
    save_embeddings: bool = True,
) -> None:
    """Run the experiment's missing cycles into ``store``; marks the run failed on an error."""
    key = config.key()
    try:
        rows = store.cycles(key)
        if config.strategy == FULL:
            if not rows:
                setup = setup_factory(config, device)
                store.mark_started(key)
                _run_reference(setup, store, reporter or SilentReporter())
            return
        setup = setup_factory(config, device)
        if len(rows) < len(budget_schedule(config.budget, len(setup.pool))):
            store.mark_started(key)
            _run_cycles(setup, store, rows, reporter or SilentReporter(), save_embeddings)
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt | SystemExit):
            store.mark_failed(key, f"{type(error).__name__}: {error}")
        raise


def ensure_shared_cycle(
    config: ExperimentConfig,
    store: Store,
    device: torch.device,
    setup_factory: SetupFactory = make_setup,
    save_embeddings: bool = True,
) -> None:
    """Train and store the run's shared cycle 0 unless it is stored already."""
    key = shared_key(config)
    if key is None or _stored_shared(store, key) is not None:
        return
    setup = setup_factory(config, device)
    schedule = budget_schedule(config.budget, len(setup.pool))
    labeled = initial_set(len(setup.pool), schedule[0][1], config.seed)
    _shared_cycle_zero(setup, store, labeled, len(schedule), SilentReporter(), save_embeddings)


def _run_reference(setup: Setup, store: Store, reporter: Reporter) -> None:
    everything = list(range(len(setup.pool)))
    for result in iterate_cycles(setup, reporter):
        row = CycleRow(0, everything, everything, [], _metrics(result))
        store.commit_cycle(setup.config.key(), row, final=True)


def _run_cycles(
    setup: Setup, store: Store, rows: list[CycleRow], reporter: Reporter, save_embeddings: bool
) -> None:
    config = setup.config
    key = config.key()
    schedule = budget_schedule(config.budget, len(setup.pool))
    if rows:
        labeled = np.asarray(rows[-1].labeled + rows[-1].acquired, dtype=np.int64)
        added = np.asarray(rows[-1].acquired, dtype=np.int64)
        previous = _resumed_model(setup, store, rows[-1])
    else:
        labeled = initial_set(len(setup.pool), schedule[0][1], config.seed)
        added, previous = labeled.copy(), None
    for cycle in range(len(rows), len(schedule)):
        if cycle == 0:
            result, model, checkpoint = _shared_cycle_zero(
                setup, store, labeled, len(schedule), reporter, save_embeddings
            )
        else:
            result, model = _train_cycle(setup, labeled, cycle, len(schedule), previous, reporter)
            checkpoint = None
        result.nominal_fraction = schedule[cycle][0]
        result.added = added.tolist()
        picks = np.asarray([], dtype=np.int64)
        if cycle + 1 < len(schedule):
            started = time.perf_counter()
            k = schedule[cycle + 1][1] - len(labeled)
            picks, result.diagnostics = acquire(
                setup, model, config.strategy, labeled, k, cycle, reporter
            )
            result.score_seconds = time.perf_counter() - started
            if config.train.keep_head and cycle > 0:
                checkpoint = _save_model(model, store, f"{key}-c{cycle}")
        metrics = _metrics(result)
        if cycle == 0:
            metrics["shared_cycle"] = shared_key(config)  # trained once for all strategies
        row = CycleRow(cycle, labeled.tolist(), added.tolist(), picks.tolist(), metrics, checkpoint)
        store.commit_cycle(key, row, final=cycle + 1 == len(schedule))
        if config.train.keep_head and cycle > 1:
            (store.directory / CHECKPOINTS / f"{key}-c{cycle - 1}.pt").unlink(missing_ok=True)
        reporter.cycle_finished(result)
        labeled, added, previous = np.concatenate([labeled, picks]), picks, model


def _train_cycle(
    setup: Setup,
    labeled: np.ndarray,
    cycle: int,
    cycles: int,
    previous: SegmentationModel | None,
    reporter: Reporter,
) -> tuple[CycleResult, SegmentationModel]:
    """A fresh model (seeded per cycle, as the loop does), trained on ``labeled`` and evaluated."""
    config = setup.config
    torch.manual_seed(cycle_seed(config.seed, cycle, 0))
    model = fresh_model(config, setup.pool.num_classes, _head_dropout(config))
    if config.train.keep_head and previous is not None:
        keep_head(model, previous)
    return train_and_evaluate(setup, model, labeled, cycle, cycles, reporter)


def _shared_cycle_zero(
    setup: Setup,
    store: Store,
    labeled: np.ndarray,
    cycles: int,
    reporter: Reporter,
    save_embeddings: bool,
) -> tuple[CycleResult, SegmentationModel, str]:
    """Cycle 0's result and model from the shared checkpoint, training it first if missing.

    The model always comes from the checkpoint, so acquisition sees the same weights whether
    cycle 0 was trained in this process or an earlier one."""
    config = setup.config
    key = str(shared_key(config))
    row = _stored_shared(store, key)
    if row is None:
        result, model = _train_cycle(setup, labeled, 0, cycles, None, reporter)
        checkpoint = _save_model(model, store, key)
        embeddings = _save_embeddings(setup, model, store, key) if save_embeddings else None
        values = config.model_dump(mode="json")
        row = SharedRow(key, values, labeled.tolist(), _metrics(result), checkpoint, embeddings)
        store.put_shared(row)
    model = load_model(setup, store.directory / row.checkpoint, _head_dropout(config))
    result = _cycle_result(row.metrics)
    return result, model, row.checkpoint


def _stored_shared(store: Store, key: str) -> SharedRow | None:
    """The stored shared cycle 0, unless its checkpoint file has gone missing."""
    row = store.shared(key)
    if row is None or not (store.directory / row.checkpoint).is_file():
        return None
    return row


def _resumed_model(setup: Setup, store: Store, last: CycleRow) -> SegmentationModel | None:
    """The last committed cycle's model, which a resumed run with keep_head builds on."""
    if not setup.config.train.keep_head:
        return None
    if last.checkpoint is None:
        raise RuntimeError(f"cycle {last.cycle} of a keep_head run was stored without its model")
    return load_model(setup, store.directory / last.checkpoint, _head_dropout(setup.config))


def _save_model(model: SegmentationModel, store: Store, name: str) -> str:
    """Write the model's state dict atomically; returns its path relative to the store."""
    relative = f"{CHECKPOINTS}/{name}.pt"
    buffer = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buffer)
    atomic_write_bytes(store.directory / relative, buffer.getvalue())
    return relative


def load_model(setup: Setup, path: Path, head_dropout: float) -> SegmentationModel:
    """A model with the checkpoint's weights, prepared for ``setup`` as training leaves it."""
    config = setup.config
    bare = config.model_copy(update={"model": config.model.model_copy(update={"weights": "none"})})
    model = fresh_model(bare, setup.pool.num_classes, head_dropout)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    prepare(model, config.train, setup.device)
    return model.eval()


def _save_embeddings(setup: Setup, model: SegmentationModel, store: Store, key: str) -> str:
    """The pool's embeddings under the cycle-0 model (float16 npz), for the t-SNE figure."""
    config = setup.config
    results = infer_pool(
        model,
        setup.pool,
        np.arange(len(setup.pool)),
        {"embedding"},
        setup.device,
        batch_size=config.eval_batch_size,
        seed=cycle_seed(config.seed, 0, 2),
    )
    buffer = io.BytesIO()
    np.savez_compressed(buffer, embeddings=results["embedding"].astype(np.float16))
    relative = f"{EMBEDDINGS}/{key}.npz"
    atomic_write_bytes(store.directory / relative, buffer.getvalue())
    return relative


def _metrics(result: CycleResult) -> dict[str, Any]:
    values = asdict(result)
    del values["cycle"], values["added"], values["added_ids"]
    return values


def _cycle_result(metrics: dict[str, Any]) -> CycleResult:
    values = {**metrics, "per_class_iou": dict(metrics["per_class_iou"])}
    values["diagnostics"] = {}
    return CycleResult(cycle=0, added=[], added_ids=[], **values)
