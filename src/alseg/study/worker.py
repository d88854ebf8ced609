"""One experiment of a study, run into the store: the engine (``alseg.loop``) with store hooks.

A cycle is one unit: train, evaluate, acquire the next images, then commit all of it in one
transaction. A run resumes at its first uncommitted cycle, from the state its last stored cycle
restores. Runs that start from the same initial set with the same model, training, SSL and seed
(they differ only in the strategy) share cycle 0: it is trained once, its model saved as a
checkpoint, and every strategy acquires from that checkpoint.

A run reads and writes the store through a :class:`RunStore`: the store itself
(:class:`StoreWriter`, in the driver's process or on its host), or a Ray task's view of it, which
holds what the driver read for the run and sends every write to the driver's ``StoreWriter``.
Models travel as checkpoint bytes, so a run never needs the study folder.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from alseg.acquisition.inference import infer_pool
from alseg.acquisition.registry import FULL, get_strategy
from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult
from alseg.errors import DataError
from alseg.io import atomic_write_bytes, atomic_write_files, path_inside
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


@dataclass(frozen=True)
class Resume:
    """What a run continues from: its stored cycles and, for keep_head, the checkpoint bytes of
    the last one's model."""

    rows: tuple[CycleRow, ...] = ()
    model: bytes | None = None


#: A run with nothing stored.
NEW_RUN = Resume()


@dataclass(frozen=True)
class SharedCycle:
    """A shared cycle 0 with the bytes of its files: the model's checkpoint and, where the study
    saves them, the pool's embeddings."""

    row: SharedRow
    model: bytes
    embeddings: bytes | None = None


@dataclass(frozen=True)
class CycleCommit:
    """A finished cycle as a run hands it over: the row; the checkpoint bytes of the model the
    row names, where only this cycle has them (keep_head); the run's checkpoint this cycle makes
    stale; and whether the run is done with it."""

    key: str
    row: CycleRow
    final: bool
    model: bytes | None = None
    stale: str | None = None


class RunStore(Protocol):
    """A run's view of the study's store: what it continues from, and where its results go."""

    def resume(self, config: ExperimentConfig) -> Resume: ...

    def shared(self, key: str) -> SharedCycle | None: ...

    def mark_started(self, key: str) -> None: ...

    def mark_failed(self, key: str, error: str) -> None: ...

    def put_shared(self, shared: SharedCycle) -> None: ...

    def commit(self, commit: CycleCommit) -> None: ...


class StoreWriter:
    """The :class:`RunStore` of a store on this host: files written atomically before the row
    that names them, one transaction per row. The local executor uses it directly; the Ray
    executor runs it as an actor on the driver's node, the one process its tasks write through."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def resume(self, config: ExperimentConfig) -> Resume:
        rows = tuple(self.store.cycles(config.key()))
        last = rows[-1] if rows else None
        if last is None or last.checkpoint is None or not config.train.keep_head:
            return Resume(rows)
        return Resume(rows, self._checkpoint_bytes(last.checkpoint, last.checkpoint_sha256))

    def shared(self, key: str, *trained: None) -> SharedCycle | None:
        """The stored shared cycle 0 with its files' bytes; None where it must be trained (again).

        Its embeddings are not read: they are written once, for the report. ``trained`` are the
        results of the Ray tasks that train and store it, which Ray awaits before this call."""
        row = _stored_shared(self.store, key)
        if row is None:
            return None
        return SharedCycle(row, (self.store.directory / row.checkpoint).read_bytes())

    def mark_started(self, key: str) -> None:
        self.store.mark_started(key)

    def mark_failed(self, key: str, error: str) -> None:
        self.store.mark_failed(key, error)

    def put_shared(self, shared: SharedCycle) -> None:
        row = shared.row
        files = {self.store.directory / row.checkpoint: shared.model}
        if row.embeddings is not None and shared.embeddings is not None:
            files[self.store.directory / row.embeddings] = shared.embeddings
        atomic_write_files(files)
        self.store.put_shared(row)

    def commit(self, commit: CycleCommit) -> None:
        checkpoint = commit.row.checkpoint
        if commit.model is not None and checkpoint is not None:
            atomic_write_bytes(self.store.directory / checkpoint, commit.model)
        self.store.commit_cycle(commit.key, commit.row, commit.final)
        if commit.stale is not None:
            (self.store.directory / commit.stale).unlink(missing_ok=True)

    def _checkpoint_bytes(self, relative: str, sha256: str | None) -> bytes:
        """The bytes of checkpoint ``relative``, checked against the sha256 stored with it; one
        stored by an older alseg without a sha256 must load. Otherwise one DataError naming the
        file and the runs to start again."""
        path = self.store.checked_checkpoint(relative)
        data = path.read_bytes()
        if sha256 is None:
            try:
                torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            except Exception as error:  # a garbled file fails in many ways (zip, pickle, EOF)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                hint = self.store.restart_hint(relative)
                raise DataError(f"checkpoint {path} does not load ({reason}); {hint}") from None
        return data


class StoreHooks(LoopHooks):
    """Cycle 0 from the shared checkpoint; every finished cycle committed to the store."""

    def __init__(self, setup: Setup, store: RunStore, save_embeddings: bool) -> None:
        self.setup, self.store, self.save_embeddings = setup, store, save_embeddings
        self.key = setup.config.key()
        self.cycles = len(schedule(setup.config, len(setup.pool)))
        self.shared_checkpoint: str | None = None

    def trained_cycle(self, state: LoopState, train: Callable[[], TrainedCycle]) -> TrainedCycle:
        shared = shared_key(self.setup.config)
        if state.cycle != 0 or shared is None:
            return train()
        cycle = self.shared_cycle(shared, train)
        self.shared_checkpoint = cycle.row.checkpoint
        return TrainedCycle(load_model(self.setup, cycle.model), cycle.row.evaluation)

    def shared_cycle(self, key: str, train: Callable[[], TrainedCycle]) -> SharedCycle:
        """The stored shared cycle 0, trained and stored first if missing.

        The model always comes from the checkpoint bytes, so acquisition sees the same weights
        whether cycle 0 was trained in this process or an earlier one."""
        cycle = self.store.shared(key)
        if cycle is None:
            trained = train()
            model = _model_bytes(trained.model)
            embeddings = (
                _embeddings_bytes(self.setup, trained.model) if self.save_embeddings else None
            )
            labeled = initial_state(self.setup.config, self.setup.pool).labeled.tolist()
            row = SharedRow(
                key,
                self.setup.config.model_dump(mode="json"),
                labeled,
                trained.evaluation,
                f"{CHECKPOINTS}/{key}.pt",
                None if embeddings is None else f"{EMBEDDINGS}/{key}.npz",
            )
            cycle = SharedCycle(row, model, embeddings)
            self.store.put_shared(cycle)
        return cycle

    def cycle_done(self, result: CycleResult, model: SegmentationModel, state: LoopState) -> None:
        keep_head, cycle = self.setup.config.train.keep_head, result.cycle
        checkpoint = self.shared_checkpoint if cycle == 0 else None
        weights = None
        if keep_head and cycle > 0 and result.acquired:
            checkpoint, weights = self._checkpoint(cycle), _model_bytes(model)
        stale = self._checkpoint(cycle - 1) if keep_head and cycle > 1 else None
        row = CycleRow(state.labeled.tolist(), result, checkpoint)
        self.store.commit(CycleCommit(self.key, row, cycle + 1 == self.cycles, weights, stale))

    def _checkpoint(self, cycle: int) -> str:
        """Where the run's model of ``cycle`` is kept (keep_head), relative to the store."""
        return f"{CHECKPOINTS}/{self.key}-c{cycle}.pt"


def execute_run(
    config: ExperimentConfig,
    store: RunStore,
    device: torch.device,
    setup_factory: SetupFactory = make_setup,
    reporter: Reporter | None = None,
    save_embeddings: bool = True,
) -> None:
    """Run the experiment's missing cycles into ``store``; marks the run failed on an error."""
    key = config.key()
    try:
        resume = store.resume(config)
        setup = setup_factory(config, device)
        if len(resume.rows) >= len(schedule(config, len(setup.pool))):
            return
        store.mark_started(key)
        hooks = StoreHooks(setup, store, save_embeddings)
        state = _resumed_state(setup, resume) if resume.rows else None
        for _ in run_loop(setup, hooks, reporter or SilentReporter(), state):
            pass
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt | SystemExit):
            store.mark_failed(key, f"{type(error).__name__}: {error}")
        raise


def ensure_shared_cycle(
    config: ExperimentConfig,
    store: RunStore,
    device: torch.device,
    setup_factory: SetupFactory = make_setup,
    save_embeddings: bool = True,
) -> None:
    """Train and store the run's shared cycle 0 unless ``store`` has it."""
    key = shared_key(config)
    if key is None:
        return
    setup = setup_factory(config, device)
    state = initial_state(config, setup.pool)
    cycles = len(schedule(config, len(setup.pool)))
    hooks = StoreHooks(setup, store, save_embeddings)
    hooks.shared_cycle(key, lambda: train_cycle(setup, state, cycles, SilentReporter()))


def _resumed_state(setup: Setup, resume: Resume) -> LoopState:
    """The engine's state after the last committed cycle (with its model for keep_head)."""
    last = resume.rows[-1]
    labeled = np.asarray(last.labeled + last.acquired, dtype=np.int64)
    previous = None
    if setup.config.train.keep_head:
        if resume.model is None:
            raise RuntimeError(
                f"cycle {last.cycle} of a keep_head run was stored without its model"
            )
        previous = load_model(setup, resume.model)
    return LoopState(len(resume.rows), labeled, np.asarray(last.acquired, dtype=np.int64), previous)


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


def _model_bytes(model: SegmentationModel) -> bytes:
    """The model's state dict as checkpoint bytes (CPU tensors)."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buffer)
    return buffer.getvalue()


def load_model(setup: Setup, checkpoint: bytes) -> SegmentationModel:
    """A model with the weights of ``checkpoint`` (bytes of a checked checkpoint file), prepared
    for ``setup`` as training leaves it."""
    state = torch.load(io.BytesIO(checkpoint), map_location="cpu", weights_only=True)
    config = setup.config
    model = fresh_model(config, setup.pool.num_classes, weights="none")
    model.load_state_dict(state)
    prepare(model, config.train, setup.device)
    return model.eval()


def _embeddings_bytes(setup: Setup, model: SegmentationModel) -> bytes:
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
    return buffer.getvalue()
