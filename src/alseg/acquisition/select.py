"""The one public acquisition step: score the pool with a model, let a strategy pick k images.

Used by the active-learning loop (every cycle of ``alseg run`` and of a study) and by own-data
projects (``alseg select``), and usable on its own with any model that follows
``alseg.models.SegmentationModel``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alseg.acquisition.base import PoolView, Strategy, StrategyOptions
from alseg.acquisition.inference import infer_pool
from alseg.acquisition.poolstore import EmbeddingDtype, PoolResultsStore
from alseg.acquisition.registry import get_strategy
from alseg.data.base import SegDataset
from alseg.errors import ConfigError
from alseg.models.protocol import SegmentationModel
from alseg.seeds import INFERENCE, SELECTION, cycle_seed

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Selection:
    """The picks (pool indices, in pick order) and what the strategy saw."""

    picks: np.ndarray
    view: PoolView
    strategy: Strategy
    options: StrategyOptions


def select_next(
    model: SegmentationModel | None,
    dataset: SegDataset,
    labeled: np.ndarray,
    k: int,
    strategy: str | Strategy,
    *,
    seed: int = 0,
    cycle: int = 0,
    options: Mapping[str, Any] | None = None,
    candidates: np.ndarray | None = None,
    extra_needs: frozenset[str] = frozenset(),
    results: Mapping[str, np.ndarray] | None = None,
    sequences: list[str] | None = None,
    frames: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    workers: int = 0,
    on_batch: ProgressCallback | None = None,
    results_dir: Path | None = None,
    embedding_dtype: EmbeddingDtype = "float32",
) -> Selection:
    """Pick ``k`` of the ``candidates`` (default: every image of ``dataset`` not in ``labeled``;
    always within the strategy's ``subset`` when it has one).

    The model scores every image of ``dataset`` for what the strategy needs plus ``extra_needs``
    (reusing ``results`` computed earlier, keyed by need); a strategy that needs nothing may get
    ``model=None``. Randomness (tie order, MC-dropout masks) derives from ``seed`` and ``cycle``.
    ``sequences`` and ``frames`` default to the dataset's frame metadata.

    With ``results_dir`` the pass keeps its results on disk there (a
    :class:`~alseg.acquisition.poolstore.PoolResultsStore`; embeddings in ``embedding_dtype``):
    RAM independent of the pool size, resumable, and a need the same model computed before is
    read back instead of computed. Without it, results are in RAM and ``embedding_dtype`` must be
    float32.
    """
    if results_dir is None and embedding_dtype != "float32":
        raise ValueError(f"{embedding_dtype} embeddings are stored on disk: give results_dir")
    store = None if results_dir is None else PoolResultsStore(results_dir, embedding_dtype)
    chosen = get_strategy(strategy) if isinstance(strategy, str) else strategy
    parsed = chosen.parse_options(options)
    n = len(dataset)
    labeled = np.asarray(labeled, dtype=np.int64)
    if candidates is None:
        is_labeled = np.zeros(n, dtype=bool)
        is_labeled[labeled] = True
        candidates = np.flatnonzero(~is_labeled)
    candidates = np.asarray(candidates, dtype=np.int64)
    if sequences is None or frames is None:
        metas = [dataset.meta(i) for i in range(n)]
        sequences = [m.sequence for m in metas]
        frames = np.asarray([m.frame for m in metas])
    if chosen.subset is not None:
        candidates = candidates[np.isin(candidates, chosen.subset(sequences, frames, parsed))]
    if not 0 <= k <= len(candidates):
        raise ConfigError(f"cannot pick {k} images: {len(candidates)} candidates are left")
    known = dict(results or {})
    missing = (chosen.needs(parsed) | extra_needs) - set(known)
    if missing:
        if model is None:
            raise ConfigError(
                f"strategy {chosen.name!r} needs a model to compute {sorted(missing)}"
            )
        known.update(
            infer_pool(
                model,
                dataset,
                np.arange(n),
                missing,
                torch.device(device),
                batch_size=batch_size,
                seed=cycle_seed(seed, cycle, INFERENCE),
                workers=workers,
                on_batch=on_batch,
                store=store,
            )
        )
    view = PoolView(labeled, candidates, sequences, np.asarray(frames), known)
    rng = np.random.default_rng(cycle_seed(seed, cycle, SELECTION))
    picks = np.asarray(chosen.select(view, k, rng, parsed), dtype=np.int64)
    _check_picks(picks, k, candidates, chosen.name)
    return Selection(picks, view, chosen, parsed)


def _check_picks(picks: np.ndarray, k: int, candidates: np.ndarray, name: str) -> None:
    """A strategy must return k distinct candidates: anything else is a bug in the strategy."""
    if picks.ndim != 1 or len(picks) != k or len(np.unique(picks)) != k:
        raise RuntimeError(f"strategy {name} returned {len(picks)} picks ({k} distinct expected)")
    if not np.isin(picks, candidates).all():
        raise RuntimeError(f"strategy {name} picked an image that is not a candidate")
