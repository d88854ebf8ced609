"""Pool results on disk: the inference pass's per-image scores and embeddings, out of core.

A :class:`PoolResultsStore` is a folder with one subfolder per pass key (:func:`pass_key`: a hash
of the model's weights and architecture and of everything else the pass's numbers depend on). A
subfolder holds ``meta.json``, and per need a ``.npy`` array with one row per pool image and a
``.done`` file with one byte per chunk of ``chunk_images`` rows: a chunk's byte turns 1 only
after its rows are written and flushed to disk (fdatasync), so a pass killed at any point resumes
with the unfinished chunks only, and a need whose chunks are all done is never computed again for
that model. Finished needs are read back as read-only ``np.memmap`` arrays (ndarrays), which
strategies index like in-memory results.

Scores are stored in float32, bit for bit what the in-memory pass computes. Vector results
(embeddings) may be stored in float16 (``embedding_dtype="float16"``): round-to-nearest changes
each component x by at most max(2^-11 |x|, 2^-25) (2^-11 relative in float16's normal range
|x| >= 2^-14, half a subnormal step 2^-25 below it), so by the triangle inequality a distance
between two stored D-dimensional embeddings x, y moves by at most
``|d16 - d32| <= 2^-11 (||x|| + ||y||) + 2^-24 sqrt(D)`` (see :func:`float16_distance_bound`);
squared distances by that times (d16 + d32). Values beyond float16's range are refused.

One writer per pass key at a time: the store does not lock against a second concurrent pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from alseg.data.base import SegDataset
from alseg.io import atomic_write_bytes

EmbeddingDtype = Literal["float32", "float16"]
#: Unit roundoff of float16 (11 significant bits) and half its smallest subnormal step.
FLOAT16_ROUNDOFF = 2.0**-11
FLOAT16_SUBNORMAL_HALF_STEP = 2.0**-25
#: Bumped when the layout or the key material changes, so old stores are not misread.
FORMAT = 1
META = "meta.json"
#: Flush a file's data to disk (fdatasync where the platform has it).
_sync = getattr(os, "fdatasync", os.fsync)


def float16_distance_bound(x_norm: np.ndarray, y_norm: np.ndarray, dim: int) -> np.ndarray:
    """Largest possible |‖x̂ − ŷ‖ − ‖x − y‖| when x and y (norms ``x_norm``, ``y_norm``, ``dim``
    components) are rounded to float16: ‖x̂ − x‖ <= sqrt(sum max(u|x_i|, s)^2)
    <= u‖x‖ + s sqrt(D) with u = 2^-11, s = 2^-25, the same for y."""
    slack = 2 * FLOAT16_SUBNORMAL_HALF_STEP * np.sqrt(dim)
    return FLOAT16_ROUNDOFF * (np.asarray(x_norm) + np.asarray(y_norm)) + slack


def pass_key(
    model: torch.nn.Module,
    dataset: SegDataset,
    indices: np.ndarray,
    *,
    seed: int,
    device: torch.device,
    batch_size: int,
    chunk_images: int,
    embedding_dtype: EmbeddingDtype,
) -> str:
    """Identity of a pass's results: the model (class, architecture text, every state-dict
    tensor), the images (dataset class, size, the frame metadata of ``indices``, the first
    image's shape), the MC-dropout seed, the device type (CUDA runs in float16 autocast), batch
    size, chunk size, stored embedding dtype and the torch version. Same key, same numbers."""
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        for part in parts:
            digest.update(repr(part).encode())
            digest.update(b"\0")

    add(FORMAT, torch.__version__, type(model).__qualname__, repr(model))
    add(getattr(model, "head_dropout", None))
    for name, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            add(name, str(tensor.dtype), tuple(tensor.shape))
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            add(name, value)
    indices = np.asarray(indices, dtype=np.int64)
    add(type(dataset).__qualname__, len(dataset), len(indices))
    digest.update(indices.tobytes())
    for index in indices:
        add(dataset.meta(int(index)))
    if len(indices):
        add(dataset[int(indices[0])].image.shape)
    add(seed, device.type, batch_size, chunk_images, embedding_dtype)
    return digest.hexdigest()[:24]


class PoolResultsStore:
    """A folder of pool results, one :class:`StoredPass` per pass key.

    ``embedding_dtype`` is how vector results are stored (scores are always float32)."""

    def __init__(self, folder: Path | str, embedding_dtype: EmbeddingDtype = "float32") -> None:
        if embedding_dtype not in ("float32", "float16"):
            raise ValueError(f"embedding dtype must be float32 or float16, not {embedding_dtype}")
        self.folder = Path(folder)
        self.embedding_dtype: EmbeddingDtype = embedding_dtype

    def open(self, key: str, size: int, chunk_images: int) -> StoredPass:
        """The results of pass ``key`` over ``size`` images (created empty if new); marks it
        the most recently used."""
        return StoredPass(self.folder / key, size, chunk_images, self.embedding_dtype)

    def keys(self) -> list[str]:
        """Stored pass keys, the most recently used first."""
        if not self.folder.is_dir():
            return []
        entries = [p for p in self.folder.iterdir() if (p / META).is_file()]
        entries.sort(key=lambda p: (p / META).stat().st_mtime_ns, reverse=True)
        return [p.name for p in entries]

    def prune(self, keep: int) -> None:
        """Delete all but the ``keep`` most recently used passes (and any half-created one)."""
        if not self.folder.is_dir():
            return
        kept = set(self.keys()[:keep])
        for path in self.folder.iterdir():
            if path.is_dir() and path.name not in kept:
                shutil.rmtree(path)


class StoredPass:
    """One pass's results: per need an (N, ...) ``.npy`` array and its chunk completion bytes.

    Rows are written a chunk at a time (:meth:`write_chunk`), so a writer holds one chunk of
    results in RAM, whatever N is."""

    def __init__(
        self, folder: Path, size: int, chunk_images: int, embedding_dtype: EmbeddingDtype
    ) -> None:
        if chunk_images < 1:
            raise ValueError(f"chunk_images must be >= 1, got {chunk_images}")
        self.folder, self.size, self.chunk_images = folder, size, chunk_images
        self.embedding_dtype = embedding_dtype
        self.chunks = -(-size // chunk_images)
        meta = {"format": FORMAT, "size": size, "chunk_images": chunk_images}
        meta["embedding_dtype"] = embedding_dtype
        path = folder / META
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != meta:
                raise ValueError(f"{folder} holds results of another layout: {stored}")
        else:
            atomic_write_bytes(path, json.dumps(meta).encode())
        now = time.time_ns()  # last use, finer than the file system's own clock
        os.utime(path, ns=(now, now))
        for stale in folder.glob(".*.tmp"):  # temporaries of a pass killed while creating a file
            stale.unlink()

    def span(self, chunk: int) -> tuple[int, int]:
        """First and end row of ``chunk``."""
        start = chunk * self.chunk_images
        return start, min(start + self.chunk_images, self.size)

    def done(self, need: str) -> np.ndarray:
        """Per chunk: whether its rows of ``need`` are on disk."""
        path = self._done_path(need)
        if not path.is_file() or not self._data_path(need).is_file():
            return np.zeros(self.chunks, dtype=bool)
        return np.fromfile(path, dtype=np.uint8).astype(bool)

    def complete(self, need: str) -> bool:
        return bool(self.done(need).all())

    def pending(self, needs: Iterable[str]) -> np.ndarray:
        """The chunks that miss at least one of ``needs``."""
        missing = np.zeros(self.chunks, dtype=bool)
        for need in needs:
            missing |= ~self.done(need)
        return np.flatnonzero(missing)

    def write_chunk(self, chunk: int, values: Mapping[str, np.ndarray]) -> None:
        """Write ``chunk``'s rows of every need (float32 arrays), flush them to disk, then mark
        the chunk done for each need."""
        start, stop = self.span(chunk)
        for need, value in values.items():
            if len(value) != stop - start:
                raise ValueError(f"chunk {chunk} of {need}: {len(value)} rows, not {stop - start}")
            rows = self._stored(need, value)
            path = self._data_path(need)
            if not path.is_file() or not self._done_path(need).is_file():
                self._create(need, rows.dtype, (self.size, *rows.shape[1:]))
            offset, shape, dtype = _npy_layout(path)
            if shape[1:] != rows.shape[1:] or dtype != rows.dtype:
                raise ValueError(f"{need}: rows {rows.dtype}{rows.shape[1:]}, stored {shape}")
            row_bytes = rows.itemsize * int(np.prod(rows.shape[1:]))
            _write_at(path, rows.tobytes(), offset + start * row_bytes)
        for need in values:
            _write_at(self._done_path(need), b"\x01", chunk)

    def read(self, need: str) -> np.ndarray:
        """All rows of a complete need, as a read-only memory map."""
        if not self.complete(need):
            raise ValueError(f"{need} is not complete in {self.folder}")
        return np.load(self._data_path(need), mmap_mode="r")

    def _stored(self, need: str, value: np.ndarray) -> np.ndarray:
        value = np.ascontiguousarray(value, dtype=np.float32)
        if value.ndim < 2 or self.embedding_dtype == "float32":
            return value
        half = torch.from_numpy(value).half().numpy()  # round to nearest even, as numpy; faster
        if (np.isinf(half) & np.isfinite(value)).any():
            raise ValueError(f"{need} has values beyond float16's range; store them in float32")
        return half

    def _create(self, need: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        """A zero-filled (sparse) ``.npy`` and an all-zero ``.done``, each renamed into place."""
        path = self._data_path(need)
        temporary = path.with_name(f".{path.name}.tmp")
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        header["shape"] = shape
        with open(temporary, "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, header)
            stream.truncate(stream.tell() + int(np.prod(shape)) * dtype.itemsize)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
        atomic_write_bytes(self._done_path(need), bytes(self.chunks))

    def _data_path(self, need: str) -> Path:
        return self.folder / f"{_file_name(need)}.npy"

    def _done_path(self, need: str) -> Path:
        return self.folder / f"{_file_name(need)}.done"


def _file_name(need: str) -> str:
    """``mc:20`` -> ``mc@20``: a need as a file name on every platform."""
    return need.replace(":", "@")


def _npy_layout(path: Path) -> tuple[int, tuple[int, ...], np.dtype]:
    """Data offset, shape and dtype of a ``.npy`` file."""
    with open(path, "rb") as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        return stream.tell(), shape, dtype


def _write_at(path: Path, data: bytes, offset: int) -> None:
    """Write ``data`` at ``offset`` of an existing file and flush it to disk."""
    descriptor = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(descriptor, view, offset)
            view, offset = view[written:], offset + written
        _sync(descriptor)
    finally:
        os.close(descriptor)
