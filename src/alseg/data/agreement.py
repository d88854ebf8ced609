"""Label agreement between frames of the same sequence: how much a video pool repeats itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alseg.data.base import IGNORE_INDEX, SegDataset
from alseg.errors import ConfigError, DataError


def frame_pairs(dataset: SegDataset, lag: int) -> list[tuple[int, int]]:
    """All (i, j) with j the frame ``lag`` frame numbers after i in the same sequence."""
    where: dict[tuple[str, int], int] = {}
    for index in range(len(dataset)):
        meta = dataset.meta(index)
        where.setdefault((meta.sequence, meta.frame), index)
    return [
        (index, where[(sequence, frame + lag)])
        for (sequence, frame), index in where.items()
        if (sequence, frame + lag) in where
    ]


def pair_agreement(first: np.ndarray, second: np.ndarray) -> float | None:
    """Share of pixels labeled in both masks that carry the same label; None if there are none."""
    labeled = (first != IGNORE_INDEX) & (second != IGNORE_INDEX)
    count = int(labeled.sum())
    if count == 0:
        return None
    return float((first[labeled] == second[labeled]).sum() / count)


def label_agreement(
    dataset: SegDataset, lags: Sequence[int] = (1, 20), max_pairs: int = 200, seed: int = 0
) -> dict[int, float]:
    """Mean label agreement between frame t and frame t + lag of one sequence, per lag, over up to
    ``max_pairs`` seeded random pairs; NaN for a lag without any pair."""
    if max_pairs < 1:
        raise ConfigError(f"max_pairs {max_pairs} must be at least 1")
    bad = [lag for lag in lags if int(lag) < 1]
    if bad:
        raise ConfigError(f"lag {bad[0]} must be a positive number of frames")
    rng = np.random.default_rng(seed)
    result: dict[int, float] = {}
    for lag in lags:
        pairs = frame_pairs(dataset, int(lag))
        if len(pairs) > max_pairs:
            pairs = [pairs[k] for k in sorted(rng.choice(len(pairs), max_pairs, replace=False))]
        shares = []
        for i, j in pairs:
            first, second = dataset[i], dataset[j]
            if first.mask.shape != second.mask.shape:
                raise DataError(
                    f"{first.meta.path} and {second.meta.path}: masks of one sequence differ "
                    f"in size ({first.mask.shape} vs {second.mask.shape})"
                )
            share = pair_agreement(first.mask, second.mask)
            if share is not None:
                shares.append(share)
        result[int(lag)] = float(np.mean(shares)) if shares else float("nan")
    return result
