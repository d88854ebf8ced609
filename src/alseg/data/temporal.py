"""Temporal structure of a set of video frames given as parallel (sequence, frame number) lists.

Frames of different sequences are never neighbours. Repeated (sequence, frame) pairs (e.g. the
augmented duplicates of Pool-Aug) are at distance 0 from each other, so they join one run and count
as redundant at every window.

A2D2 frame numbers are sparse: in the official pool lists, frames that were consecutive in the
dataset are typically 4 to 100 frame numbers apart (median about 33), rarely exactly 1. Use a
tolerant ``gap`` (e.g. ``A2D2_LIST_GAP``) for runs and windows of that size for redundancy there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

#: Tolerant run gap for A2D2 list files: covers most within-group steps of the official pools.
A2D2_LIST_GAP = 50


def _sorted_by_sequence(
    sequences: Sequence[str], frames: Sequence[int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per sequence (in name order): input positions sorted by frame, and their sorted frames."""
    if len(sequences) != len(frames):
        raise ValueError(f"{len(sequences)} sequences but {len(frames)} frames")
    frame_array = np.asarray(frames, dtype=np.int64)
    positions: dict[str, list[int]] = {}
    for position, sequence in enumerate(sequences):
        positions.setdefault(sequence, []).append(position)
    result = []
    for sequence in sorted(positions):
        idx = np.asarray(positions[sequence], dtype=np.int64)
        idx = idx[np.argsort(frame_array[idx], kind="stable")]
        result.append((idx, frame_array[idx]))
    return result


def runs(sequences: Sequence[str], frames: Sequence[int], gap: int = 1) -> list[np.ndarray]:
    """Maximal runs: input positions of frames of one sequence whose sorted neighbours differ by
    at most ``gap`` frame numbers (``gap=1``: exactly consecutive). The runs partition the input;
    each run is in time order, runs are ordered by sequence name, then time."""
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    result: list[np.ndarray] = []
    for idx, sorted_frames in _sorted_by_sequence(sequences, frames):
        cuts = np.flatnonzero(np.diff(sorted_frames) > gap) + 1
        result.extend(np.split(idx, cuts))
    return result


def run_sizes(sequences: Sequence[str], frames: Sequence[int], gap: int = 1) -> np.ndarray:
    """Length of every run (see ``runs``)."""
    return np.asarray([len(r) for r in runs(sequences, frames, gap)], dtype=np.int64)


def size_histogram(sizes: Sequence[int] | np.ndarray) -> dict[int, int]:
    """How many runs (or groups) have each size, sizes ascending."""
    return dict(sorted(Counter(int(s) for s in sizes).items()))


def neighbour_counts(sequences: Sequence[str], frames: Sequence[int], window: int) -> np.ndarray:
    """For every input frame: how many other frames of its sequence lie within ``window`` frame
    numbers (inclusive), in input order."""
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    counts = np.zeros(len(frames), dtype=np.int64)
    for idx, sorted_frames in _sorted_by_sequence(sequences, frames):
        low = np.searchsorted(sorted_frames, sorted_frames - window, side="left")
        high = np.searchsorted(sorted_frames, sorted_frames + window, side="right")
        counts[idx] = high - low - 1
    return counts


def nearest_gaps(sequences: Sequence[str], frames: Sequence[int]) -> np.ndarray:
    """For every input frame: frame distance to the nearest other frame of its sequence (-1 when
    it is alone in its sequence), in input order."""
    gaps = np.full(len(frames), -1, dtype=np.int64)
    for idx, sorted_frames in _sorted_by_sequence(sequences, frames):
        if len(idx) < 2:
            continue
        steps = np.diff(sorted_frames)
        gaps[idx] = np.minimum(np.r_[steps[0], steps], np.r_[steps, steps[-1]])
    return gaps


def temporal_redundancy(sequences: Sequence[str], frames: Sequence[int], window: int = 1) -> float:
    """Share of frames with another frame of the same sequence within ``window`` frame numbers."""
    if len(frames) == 0:
        return 0.0
    return float(np.mean(neighbour_counts(sequences, frames, window) > 0))


def mean_neighbours(sequences: Sequence[str], frames: Sequence[int], window: int = 1) -> float:
    """Mean number of other frames of the same sequence within ``window`` frame numbers."""
    if len(frames) == 0:
        return 0.0
    return float(np.mean(neighbour_counts(sequences, frames, window)))


def frames_per_sequence(sequences: Sequence[str]) -> dict[str, int]:
    """Number of frames of every sequence, by sequence name."""
    return dict(sorted(Counter(sequences).items()))


def num_sequences(sequences: Sequence[str]) -> int:
    return len(set(sequences))


def ranks_in(
    sequences: Sequence[str],
    frames: Sequence[int],
    all_sequences: Sequence[str],
    all_frames: Sequence[int],
) -> np.ndarray:
    """Position of each (sequence, frame) in the sorted distinct frames of its sequence within a
    reference set (e.g. the whole dataset): runs over ranks with ``gap=1`` are exactly the runs of
    frames that are adjacent in the reference, however sparse its frame numbers are."""
    reference: dict[str, np.ndarray] = {}
    for idx, sorted_frames in _sorted_by_sequence(all_sequences, all_frames):
        reference[all_sequences[int(idx[0])]] = np.unique(sorted_frames)
    ranks = np.empty(len(frames), dtype=np.int64)
    for i, (sequence, frame) in enumerate(zip(sequences, frames, strict=True)):
        known = reference.get(sequence)
        position = -1 if known is None else int(np.searchsorted(known, frame))
        if known is None or position >= len(known) or known[position] != frame:
            raise ValueError(f"frame {frame} of sequence {sequence!r} is not in the reference")
        ranks[i] = position
    return ranks
