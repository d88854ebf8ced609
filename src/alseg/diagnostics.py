"""Selection diagnostics (SPEC §4): how spread out an acquisition's picks are.

Cheap and far less noisy than mIoU: they show mode collapse directly.
"""

from __future__ import annotations

import numpy as np

from alseg.distances import pairwise_blocks
from alseg.neighbours import near_duplicate_radius, neighbour_stats

NEIGHBOUR_FRAMES = 5  # picks this close in time (same sequence) count as temporal neighbours
SPREAD_SAMPLE = 2000  # points (seeded sample) the mean pairwise distance is measured on


def mean_pairwise_distance(
    x: np.ndarray, max_points: int, rng: np.random.Generator, rows: np.ndarray | None = None
) -> float:
    """Mean Euclidean distance over distinct pairs of ``x[rows]`` (all rows by default; of a
    seeded sample of ``max_points`` rows, gathered alone)."""
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    if len(rows) < 2:
        return float("nan")
    if len(rows) > max_points:
        rows = rows[rng.choice(len(rows), max_points, replace=False)]
    x = x[rows]
    total = 0.0
    for _, _, block in pairwise_blocks(x.astype(np.float64)):
        distances = np.sqrt(np.maximum(block, 0))
        total += float(distances.sum(where=np.isfinite(distances)))
    return total / (len(x) * (len(x) - 1) / 2)


def selection_diagnostics(
    picks: np.ndarray,
    unlabeled: np.ndarray,
    sequences: list[str],
    frames: np.ndarray,
    groups: np.ndarray,
    embeddings: np.ndarray | None,
    seed: int = 0,
) -> dict[str, float | int]:
    """Distinct sequences/groups of the picks, temporal and embedding near-duplicates, spread.

    A pick is a near-duplicate when another pick lies within the near-duplicate radius of the
    unlabeled pool (``alseg.neighbours``, the radius ``alseg advise`` uses). The pool's rows are
    read in place (memory independent of its size beyond index arrays)."""
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
        unlabeled = np.asarray(unlabeled)
        picked = embeddings[picks]
        pool_spread = mean_pairwise_distance(embeddings, SPREAD_SAMPLE, rng, unlabeled)
        radius = near_duplicate_radius(embeddings, seed, rows=unlabeled)
        nearest_pick = neighbour_stats(picked, radius).distance
        result["near_duplicate_share"] = float(np.mean(nearest_pick <= radius))
        result["pick_spread"] = mean_pairwise_distance(picked, SPREAD_SAMPLE, rng)
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
