"""A tiny "blobs" study for the study tests: registered as a dataset, or built by a setup factory
(which Ray workers can import)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from alseg.config import ExperimentConfig, build
from alseg.data.pools import build_pool
from alseg.data.registry import register_dataset
from alseg.loop import Setup
from alseg.study.config import StudyConfig
from alseg.study.store import CycleRow
from tests.fakes import BlobDataset

TINY_TRAIN = {
    "epochs": 1,
    "min_iterations": 10,
    "batch_size": 4,
    "channels_last": False,
    "lr_backbone": 0.05,  # high enough that the mIoU moves between cycles and strategies
    "lr_head": 0.05,
}
TINY_BASE = {"model": {"encoder": "mobilenetv3_small_050", "weights": "none"}, "train": TINY_TRAIN}


def create_blobs(split: str, root: Path | None = None, **options: Any) -> BlobDataset:
    """Train: 4 sequences of 5 frames; val: 2 sequences of 3 frames."""
    return BlobDataset(4, 5) if split == "train" else BlobDataset(2, 3, seed=9)


def register_blobs() -> None:
    """Make ``blobs`` a dataset name in this process."""
    register_dataset("blobs")(create_blobs)


def blob_setup(config: ExperimentConfig, device: torch.device) -> Setup:
    """Setup factory for processes without the registration (Ray workers)."""
    pool = build_pool(create_blobs("train"), config.pool.kind, config.pool.size, config.pool.seed)
    return Setup(config, pool, create_blobs("val"), device)


def tiny_study(
    strategies: tuple[str, ...] = ("random", "entropy"), **overrides: Any
) -> StudyConfig:
    """Blobs pool of 20, budget 20-20@60 (3 cycles of 4, 8, 12 images), with a 100% reference."""
    values: dict[str, Any] = {
        "name": "tiny",
        "pools": [{"dataset": "blobs", "kind": "all", "size": None}],
        "strategies": list(strategies),
        "budgets": ["20-20@60"],
        "seeds": [0],
        "base": TINY_BASE,
        **overrides,
    }
    return build(StudyConfig, **values)


TIMINGS = ("train_seconds", "eval_seconds", "score_seconds")


def without_timings(rows: list[CycleRow]) -> list[CycleRow]:
    """Cycle rows with their wall-clock timings zeroed (the rest must be reproducible)."""
    return [
        replace(r, result=r.result.model_copy(update=dict.fromkeys(TIMINGS, 0.0))) for r in rows
    ]
