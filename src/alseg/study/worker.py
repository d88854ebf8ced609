"""One experiment of a study, run into the store: the engine (``alseg.loop``) with store hooks.

A cycle is one unit: train, evaluate, acquire the next images, then commit all of it in one
transaction. A run resumes at its first uncommitted cycle, from the state its last stored cycle
restores. Runs that start from the same initial set with the same model, training, SSL and seed
(they differ only in the strategy) share cycle 0: it is trained once, its model saved as a
checkpoint, and every strategy acquires from that checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from alseg.acquisition.inference import infer_pool
from alseg.acquisition.registry import FULL, get_strategy
from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult
from alseg.errors import DataError
from alseg.io import atomic_write_bytes, path_inside
from alseg.loop import (
    LoopHooks,
    LoopState,
    Reporter,
    Setup,
    SilentReporter,
    TrainedCycle,
    fresh_model,
    head_dropout,
    initial_state,
    make_setup,
    run_loop,
    schedule,
    train_cycle,
)
from alseg.models import SegmentationModel
from alseg.seeds import INFERENCE, cycle_seed
from alseg.study.store import CycleRow, SharedRow, Store, file_sha256
from alseg.train.common import prepare

SetupFactory = Callable[[ExperimentConfig, torch.device], Setup]
CHECKPOINTS = "checkpoints"
EMBEDDINGS = "embeddings"


def shared_key(config: ExperimentConfig) -> str | None:
    """Identity of the run's cycle-0 training: its config without what only acquisition uses
    (strategy, strategy options, later budget steps, keep_head) and with the head dropout the
    strategy trains with. None for the 100% reference, which shares nothing."""
    if config.strategy == FULL or get_strategy(config.strategy).own_initial_set:
        return None
    values = config.model_dump(mode="json")
    del values["strategy"], values["strategy_options"], values["train"]["keep_head"]
    budget = config.budget
    values["budget"] = (
        {"initial": budget.initial}
        if budget.absolute is None
        else {"initial_count": budget.absolute[0]}
    )
    values["model"]["head_dropout"] = head_dropout(config)
    payload = json.dumps(values, sort_keys=True).encode()
    return "c0-" + hashlib.sha256(payload).hexdigest()[:16]


class StoreHooks(LoopHooks):
    """Cycle 0 from the shared checkpoint; every finished cycle committed to the store."""

    def __init__(self, setup: Setup, store: Store, save_embeddings: bool) -> None:
        self.setup, self.store, self.save_embeddings = setup, store, save_embeddings
        self.key = setup.config.key()
        self.cycles = len(schedule(setup.config, len(setup.pool)))
        self.shared_checkpoint: str | None = None

    def trained_cycle(self, state: LoopState, train: Callable[[], TrainedCycle]) -> TrainedCycle:
        shared = shared_key(self.setup.config)
        if state.cycle != 0 or shared is None:
            return train()
        row = self.shared_cycle(shared, train)
        self.shared_checkpoint = row.checkpoint
        model = load_model(self.setup, self.store.directory / row.checkpoint)
        return TrainedCycle(model, row.evaluation)

    def shared_cycle(self, key: str, train: Callable[[], TrainedCycle]) -> SharedRow:
        """The stored shared cycle 0, trained and stored first if missing.

        The model always comes from the checkpoint, so acquisition sees the same weights whether
        cycle 0 was trained in this process or an earlier one."""
        row = _stored_shared(self.store, key)
        if row is None:
            trained = train()
            checkpoint = _save_model(trained.model, self.store, key)
            embeddings = (
                _save_embeddings(self.setup, trained.model, self.store, key)
                if self.save_embeddings
                else None
            )
            labeled = initial_state(self.setup.config, self.setup.pool).labeled.tolist()
            values = self.setup.config.model_dump(mode="json")
            row = SharedRow(key, values, labeled, trained.evaluation, checkpoint, embeddings)
            self.store.put_shared(row)
        return row

    def cycle_done(self, result: CycleResult, model: SegmentationModel, state: LoopState) -> None:
        keep_head = self.setup.config.train.keep_head
        checkpoint = self.shared_checkpoint if result.cycle == 0 else None
        if keep_head and result.cycle > 0 and result.acquired:
            checkpoint = _save_model(model, self.store, f"{self.key}-c{result.cycle}")
        row = CycleRow(state.labeled.tolist(), result, checkpoint)
        self.store.commit_cycle(self.key, row, final=result.cycle + 1 == self.cycles)
        if keep_head and result.cycle > 1:
            stale = self.store.directory / CHECKPOINTS / f"{self.key}-c{result.cycle - 1}.pt"
            stale.unlink(missing_ok=True)


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
        setup = setup_factory(config, device)
        if len(rows) >= len(schedule(config, len(setup.pool))):
            return
        store.mark_started(key)
        hooks = StoreHooks(setup, store, save_embeddings)
        state = _resumed_state(setup, store, rows) if rows else None
        for _ in run_loop(setup, hooks, reporter or SilentReporter(), state):
            pass
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
    state = initial_state(config, setup.pool)
    cycles = len(schedule(config, len(setup.pool)))
    hooks = StoreHooks(setup, store, save_embeddings)
    hooks.shared_cycle(key, lambda: train_cycle(setup, state, cycles, SilentReporter()))


def _resumed_state(setup: Setup, store: Store, rows: list[CycleRow]) -> LoopState:
    """The engine's state after the last committed cycle (with its model for keep_head)."""
    last = rows[-1]
    labeled = np.asarray(last.labeled + last.acquired, dtype=np.int64)
    previous = None
    if setup.config.train.keep_head:
        if last.checkpoint is None:
            raise RuntimeError(
                f"cycle {last.cycle} of a keep_head run was stored without its model"
            )
        previous = load_model(setup, store.directory / last.checkpoint)
    return LoopState(len(rows), labeled, np.asarray(last.acquired, dtype=np.int64), previous)


def _stored_shared(store: Store, key: str) -> SharedRow | None:
    """The stored shared cycle 0, unless its checkpoint file is missing or damaged (it differs
    from the sha256 stored with it or, stored without one by an older alseg, does not load):
    such a cycle 0 is trained again."""
    row = store.shared(key)
    if row is None:
        return None
    path = path_inside(store.directory, row.checkpoint)  # stored paths are untrusted
    if path is None or not path.is_file():
        return None
    if row.checkpoint_sha256 is not None:
        return row if file_sha256(path) == row.checkpoint_sha256 else None
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a garbled file fails in many ways (zip, pickle, EOF, key errors)
        return None
    return row


def _save_model(model: SegmentationModel, store: Store, name: str) -> str:
    """Write the model's state dict atomically; returns its path relative to the store."""
    relative = f"{CHECKPOINTS}/{name}.pt"
    buffer = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buffer)
    atomic_write_bytes(store.directory / relative, buffer.getvalue())
    return relative


def load_model(setup: Setup, path: Path) -> SegmentationModel:
    """A model with the checkpoint's weights, prepared for ``setup`` as training leaves it.

    ``path`` is a checkpoint of a store (``<store>/checkpoints/<name>.pt``); it is checked
    against the sha256 stored with it first, and a missing, damaged or unloadable file is one
    DataError naming it and the runs to start again."""
    store = Store(path.parent.parent, read_only=True)
    relative = f"{path.parent.name}/{path.name}"
    path = store.checked_checkpoint(relative)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a garbled file fails in many ways (zip, pickle, EOF, key errors)
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(
            f"checkpoint {path} does not load ({reason}); {store.restart_hint(relative)}"
        ) from None
    config = setup.config
    model = fresh_model(config, setup.pool.num_classes, weights="none")
    model.load_state_dict(state)
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
        seed=cycle_seed(config.seed, 0, INFERENCE),
    )
    buffer = io.BytesIO()
    np.savez_compressed(buffer, embeddings=results["embedding"].astype(np.float16))
    relative = f"{EMBEDDINGS}/{key}.npz"
    atomic_write_bytes(store.directory / relative, buffer.getvalue())
    return relative
