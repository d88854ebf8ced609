"""Uniform in time: picks that fill the largest temporal gaps the labeled frames leave.

Within a sequence the labeled frames cut time into gaps: between two labeled frames (interior),
between a labeled frame and the sequence's first or last candidate (an end), or a whole sequence
without labels. A gap of length L holding q picks spaces them evenly: L/(q+1) apart in an
interior gap, L/(q+1/2) in an end gap (the last pick half a spacing from the end), L/q in a
whole sequence (half a spacing from both ends). Picks go one at a time to the gap whose spacing
is largest (whole sequences without any pick first, longest first), so k picks from nothing are
evenly spaced and k more picks after them land halfway between, never beside, earlier ones.
Each pick then snaps to the free candidate nearest its ideal frame (the earlier one on ties).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alseg.distances import as_index_array

INTERIOR, LEFT_END, RIGHT_END, WHOLE = "interior", "left", "right", "whole"


@dataclass
class Gap:
    """A stretch of one sequence without labeled frames and the candidates inside it."""

    kind: str
    start: float  # the labeled frame (or sequence end) the gap begins at
    length: float
    candidates: np.ndarray  # pool indices in frame order
    frames: np.ndarray  # their frames
    picks: int = field(default=0)

    def spacing(self, picks: int) -> float:
        """Distance between neighbouring picks when the gap holds ``picks`` (inf: none yet in a
        sequence without labels)."""
        if self.kind == WHOLE:
            return np.inf if picks == 0 else self.length / picks
        if self.kind == INTERIOR:
            return self.length / (picks + 1)
        return self.length / (picks + 0.5)

    def ideal_frames(self) -> list[float]:
        q = self.picks
        if self.kind == WHOLE:
            return [self.start + (m + 0.5) * self.length / q for m in range(q)]
        if self.kind == INTERIOR:
            return [self.start + (m + 1) * self.length / (q + 1) for m in range(q)]
        step = self.length / (q + 0.5)
        sign = 1 if self.kind == RIGHT_END else -1
        return sorted(self.start + sign * (m + 1) * step for m in range(q))


def uniform_in_time(
    sequences: Sequence[str] | np.ndarray,
    frames: Sequence[int] | np.ndarray,
    labeled: np.ndarray | Sequence[int],
    candidates: np.ndarray | Sequence[int],
    k: int,
) -> np.ndarray:
    """``k`` candidates (pool indices) spread over the temporal gaps between ``labeled`` frames,
    in sequence and frame order."""
    seq, frame = np.asarray(sequences), np.asarray(frames, dtype=np.float64)
    if seq.shape != frame.shape or seq.ndim != 1:
        raise ValueError(
            f"sequences and frames must be 1-D and equally long, got {seq.shape} and {frame.shape}"
        )
    pool = as_index_array(candidates, len(seq), "candidates")
    anchors = as_index_array(labeled, len(seq), "labeled")
    if not 0 <= k <= len(pool):
        raise ValueError(f"k={k} must be between 0 and the {len(pool)} candidates")
    gaps = _gaps(seq, frame, anchors, pool)
    _allocate(gaps, k)
    picks = [_place(gap) for gap in gaps if gap.picks]
    return np.concatenate(picks).astype(np.int64) if picks else np.empty(0, dtype=np.int64)


def _gaps(seq: np.ndarray, frame: np.ndarray, anchors: np.ndarray, pool: np.ndarray) -> list[Gap]:
    gaps: list[Gap] = []
    for name in sorted(set(seq[pool].tolist())):
        members = pool[seq[pool] == name]
        members = members[np.lexsort((members, frame[members]))]
        times = frame[members]
        cuts = np.unique(frame[anchors[seq[anchors] == name]])
        if cuts.size == 0:
            gaps.append(Gap(WHOLE, times[0] - 0.5, times[-1] - times[0] + 1, members, times))
            continue
        slot = np.searchsorted(cuts, times)  # 0: before the first cut, len(cuts): after the last
        for position in np.unique(slot):
            inside = slot == position
            chosen, at = members[inside], times[inside]
            if position == 0:
                gap = Gap(LEFT_END, cuts[0], cuts[0] - at[0], chosen, at)
            elif position == len(cuts):
                gap = Gap(RIGHT_END, cuts[-1], at[-1] - cuts[-1], chosen, at)
            else:
                left, right = cuts[position - 1], cuts[position]
                gap = Gap(INTERIOR, left, right - left, chosen, at)
            gaps.append(gap)
    return gaps


def _allocate(gaps: list[Gap], k: int) -> None:
    """Give each of the k picks to the open gap with the largest spacing (then the longest, then
    the first)."""
    heap = [(-gap.spacing(0), -gap.length, i) for i, gap in enumerate(gaps)]
    heapq.heapify(heap)
    for _ in range(k):
        _, _, i = heapq.heappop(heap)
        gap = gaps[i]
        gap.picks += 1
        if gap.picks < len(gap.candidates):
            heapq.heappush(heap, (-gap.spacing(gap.picks), -gap.length, i))


def _place(gap: Gap) -> np.ndarray:
    """The free candidate nearest each ideal frame of the gap, in frame order."""
    free = np.ones(len(gap.candidates), dtype=bool)
    chosen = []
    for ideal in gap.ideal_frames():
        distance = np.where(free, np.abs(gap.frames - ideal), np.inf)
        best = int(np.argmin(distance))  # the earlier frame on ties (frames are sorted)
        free[best] = False
        chosen.append(best)
    return gap.candidates[np.sort(chosen)]
