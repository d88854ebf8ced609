"""Selection diagnostics (SPEC §4): how spread out an acquisition's picks are.

Cheap and far less noisy than mIoU: they show mode collapse directly.
"""

from __future__ import annotations

import numpy as np

NEIGHBOUR_FRAMES = 5  # picks this close in time (same sequence) count as temporal neighbours
#: Picks closer than this fraction of the pool's mean pairwise embedding distance count as
#: near-duplicates (the radius alseg.advise calibrated on synthdrive's consecutive frames).
NEAR_DUPLICATE_FRACTION = 0.5


def _pairwise(x: np.ndarray) -> np.ndarray:
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return np.sqrt(d2)


def mean_pairwise_distance(x: np.ndarray, max_points: int, rng: np.random.Generator) -> float:
    """Mean Euclidean distance over distinct pairs (of a seeded sample of ``max_points``)."""
    if len(x) < 2:
        return float("nan")
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    d = _pairwise(x.astype(np.float64))
    return float(d[np.triu_indices(len(x), 1)].mean())


def selection_diagnostics(
    picks: np.ndarray,
    unlabeled: np.ndarray,
    sequences: list[str],
    frames: np.ndarray,
    groups: np.ndarray,
    embeddings: np.ndarray | None,
    seed: int = 0,
) -> dict[str, float | int]:
    """Distinct sequences/groups of the picks, temporal and embedding near-duplicates, spread."""
    picks = np.asarray(picks)
    seqs = [sequences[i] for i in picks]
    result: dict[str, float | int] = {
        "picks": len(picks),
        "distinct_sequences": len(set(seqs)),
        "distinct_groups": len({int(groups[i]) for i in picks if groups[i] >= 0}),
        "temporal_neighbour_share": _temporal_neighbour_share(seqs, frames[picks]),
    }
    if embeddings is not None and len(picks) >= 2:
        rng = np.random.default_rng(seed)
        pool_spread = mean_pairwise_distance(embeddings[unlabeled], 2000, rng)
        picked = embeddings[picks].astype(np.float64)
        d = _pairwise(picked)
        np.fill_diagonal(d, np.inf)
        threshold = NEAR_DUPLICATE_FRACTION * pool_spread
        result["near_duplicate_share"] = float((d.min(1) < threshold).mean())
        result["pick_spread"] = mean_pairwise_distance(picked, 2000, rng)
        result["pool_spread"] = pool_spread
    return result


def _temporal_neighbour_share(sequences: list[str], frames: np.ndarray) -> float:
    """Share of picks with another pick within NEIGHBOUR_FRAMES frames of the same sequence."""
    if len(sequences) < 2:
        return 0.0
    by_sequence: dict[str, list[int]] = {}
    for sequence, frame in zip(sequences, frames, strict=True):
        by_sequence.setdefault(sequence, []).append(int(frame))
    close = 0
    for numbers in by_sequence.values():
        ordered = np.sort(np.asarray(numbers))
        gaps = np.diff(ordered)
        near = np.zeros(len(ordered), dtype=bool)
        near[1:] |= gaps <= NEIGHBOUR_FRAMES
        near[:-1] |= gaps <= NEIGHBOUR_FRAMES
        close += int(near.sum())
    return close / len(sequences)
