"""One streamed inference pass over pool images, computing exactly what a strategy needs.

Per-pixel maps are reduced to one number (or one embedding) per image on the device, batch by batch,
by the scorers of the requested needs (``alseg.acquisition.scorers``). In memory (the default) the
per-image results are the only thing that grows with the pool; with a
:class:`~alseg.acquisition.poolstore.PoolResultsStore` they go to disk a chunk at a time, so the
pass holds at most two chunks of results (a batch may straddle a chunk boundary) whatever the pool
size, resumes after a kill with the unfinished chunks, and reuses what the same model computed
before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from alseg.acquisition.poolstore import PoolResultsStore, StoredPass, pass_key
from alseg.acquisition.scorers import InferenceBatch, PassState, split_need
from alseg.data.base import SegDataset
from alseg.data.transforms import eval_batches
from alseg.devices import autocast
from alseg.models.protocol import SegmentationModel

ProgressCallback = Callable[[int, int], None]
#: Images per chunk of a stored pass (rounded up to a multiple of the batch size).
CHUNK_IMAGES = 1024


def infer_pool(
    model: SegmentationModel,
    dataset: SegDataset,
    indices: np.ndarray,
    needs: Iterable[str],
    device: torch.device,
    batch_size: int = 32,
    seed: int = 0,
    workers: int = 0,
    on_batch: ProgressCallback | None = None,
    store: PoolResultsStore | None = None,
    chunk_images: int = CHUNK_IMAGES,
) -> dict[str, np.ndarray]:
    """Per-image results for ``dataset[indices]``, keyed by need: arrays of len(indices)
    (embeddings N x D). ``seed`` fixes the MC-dropout masks of ``mc:T`` needs.

    With a ``store`` the results are read-only memory maps of the store's files, keyed by the
    model and the pass (:func:`~alseg.acquisition.poolstore.pass_key`): needs the store holds
    complete are not computed, and of the others only the chunks not yet on disk. Chunks are
    ``chunk_images`` rounded up to a multiple of ``batch_size``, so a resumed pass of same-size
    images batches them as an uninterrupted one; float32 results equal the in-memory ones."""
    wanted = sorted(set(needs))
    if store is None:
        return _in_memory(
            model, dataset, indices, wanted, device, batch_size, seed, workers, on_batch
        )
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) == 0:
        return {}
    chunk_images = -(-max(1, chunk_images) // batch_size) * batch_size
    key = pass_key(
        model,
        dataset,
        indices,
        seed=seed,
        device=device,
        batch_size=batch_size,
        chunk_images=chunk_images,
        embedding_dtype=store.embedding_dtype,
    )
    stored = store.open(key, len(indices), chunk_images)
    todo = [need for need in wanted if not stored.complete(need)]
    if todo:
        pending = stored.pending(todo)
        positions = np.concatenate([np.arange(*stored.span(chunk)) for chunk in pending])
        chunks = _ChunkWriter(stored)
        done = len(indices) - len(positions)
        for where, values in _scored_batches(
            model, dataset, indices[positions], todo, device, batch_size, seed, workers
        ):
            chunks.add(positions[where], values)
            done += len(where)
            if on_batch is not None:
                on_batch(done, len(indices))
    return {need: stored.read(need) for need in wanted}


def _in_memory(
    model: SegmentationModel,
    dataset: SegDataset,
    indices: np.ndarray,
    needs: list[str],
    device: torch.device,
    batch_size: int,
    seed: int,
    workers: int,
    on_batch: ProgressCallback | None,
) -> dict[str, np.ndarray]:
    results: dict[str, np.ndarray] = {}
    done = 0
    for positions, values in _scored_batches(
        model, dataset, indices, needs, device, batch_size, seed, workers
    ):
        for need, value in values.items():
            if need not in results:
                results[need] = np.zeros((len(indices), *value.shape[1:]), dtype=np.float32)
            results[need][positions] = value
        done += len(positions)
        if on_batch is not None:
            on_batch(done, len(indices))
    return results


@torch.no_grad()
def _scored_batches(
    model: SegmentationModel,
    dataset: SegDataset,
    indices: np.ndarray,
    needs: list[str],
    device: torch.device,
    batch_size: int,
    seed: int,
    workers: int,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(positions in ``indices``, float32 results per need) batch by batch, in order."""
    scorers = {need: split_need(need) for need in needs}
    model.eval().to(device)
    state = PassState(model, seed, device)
    for images, _, positions in eval_batches(dataset, indices, batch_size, workers):
        batch = InferenceBatch(state, images.to(device))
        with autocast(device):
            values = {need: s.compute(batch, arg) for need, (s, arg) in scorers.items()}
        yield positions.numpy(), {need: v.float().cpu().numpy() for need, v in values.items()}


@dataclass
class _OpenChunk:
    buffers: dict[str, np.ndarray]
    filled: int = 0


class _ChunkWriter:
    """Collects rows in ascending position order; writes each chunk to the store once full."""

    def __init__(self, stored: StoredPass) -> None:
        self.stored = stored
        self.open: dict[int, _OpenChunk] = {}

    def add(self, positions: np.ndarray, values: dict[str, np.ndarray]) -> None:
        for chunk in np.unique(positions // self.stored.chunk_images).tolist():
            start, stop = self.stored.span(chunk)
            rows = (positions >= start) & (positions < stop)
            if chunk not in self.open:
                self.open[chunk] = _OpenChunk(
                    {
                        need: np.empty((stop - start, *value.shape[1:]), dtype=np.float32)
                        for need, value in values.items()
                    }
                )
            current = self.open[chunk]
            for need, value in values.items():
                current.buffers[need][positions[rows] - start] = value[rows]
            current.filled += int(rows.sum())
            if current.filled == stop - start:
                self.stored.write_chunk(chunk, current.buffers)
                del self.open[chunk]
