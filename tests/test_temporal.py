from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.data.temporal import (
    frames_per_sequence,
    mean_neighbours,
    nearest_gaps,
    neighbour_counts,
    num_sequences,
    ranks_in,
    run_sizes,
    runs,
    size_histogram,
    temporal_redundancy,
)

SEQS = ["a", "a", "a", "b", "a", "b"]
FRAMES = [1, 2, 4, 3, 5, 10]


def test_runs_by_hand():
    assert [r.tolist() for r in runs(SEQS, FRAMES, gap=1)] == [[0, 1], [2, 4], [3], [5]]
    assert [r.tolist() for r in runs(SEQS, FRAMES, gap=2)] == [[0, 1, 2, 4], [3], [5]]
    assert run_sizes(SEQS, FRAMES, gap=7).tolist() == [4, 2]
    assert size_histogram([2, 2, 1, 1, 1, 5]) == {1: 3, 2: 2, 5: 1}


def test_redundancy_and_neighbours_by_hand():
    # a: 1,2,4,5 -> every frame has a neighbour within 1; b: 3,10 -> none within 1
    assert temporal_redundancy(SEQS, FRAMES, window=1) == pytest.approx(4 / 6)
    assert neighbour_counts(SEQS, FRAMES, window=2).tolist() == [1, 2, 2, 0, 1, 0]
    assert mean_neighbours(SEQS, FRAMES, window=2) == pytest.approx(6 / 6)
    assert temporal_redundancy(SEQS, FRAMES, window=7) == 1.0
    assert nearest_gaps(SEQS, FRAMES).tolist() == [1, 1, 1, 7, 1, 7]
    assert nearest_gaps(["x", "y"], [1, 2]).tolist() == [-1, -1]
    assert temporal_redundancy([], [], window=3) == 0.0


def test_duplicates_are_redundant_and_share_a_run():
    seqs, frames = ["s", "s", "s"], [7, 7, 30]
    assert temporal_redundancy(seqs, frames, window=0) == pytest.approx(2 / 3)
    assert run_sizes(seqs, frames, gap=1).tolist() == [2, 1]


def test_sequence_counts():
    assert frames_per_sequence(SEQS) == {"a": 4, "b": 2}
    assert num_sequences(SEQS) == 2


def test_ranks_in_reference_order():
    ref_seqs, ref_frames = ["a"] * 4 + ["b"] * 2, [10, 40, 20, 30, 5, 9]
    assert ranks_in(["a", "b", "a"], [30, 9, 10], ref_seqs, ref_frames).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="not in the reference"):
        ranks_in(["a"], [11], ref_seqs, ref_frames)


def test_bad_arguments():
    with pytest.raises(ValueError):
        runs(["a"], [1, 2])
    with pytest.raises(ValueError):
        temporal_redundancy(["a"], [1], window=-1)


frame_lists = st.lists(
    st.tuples(st.sampled_from(["p", "q", "r"]), st.integers(0, 60)), min_size=0, max_size=40
)


def _naive_neighbours(pairs, window):
    return [
        sum(1 for j, (t, g) in enumerate(pairs) if j != i and t == s and abs(g - f) <= window)
        for i, (s, f) in enumerate(pairs)
    ]


@settings(max_examples=60, deadline=None)
@given(pairs=frame_lists, window=st.integers(0, 10))
def test_neighbours_match_naive_loop(pairs, window):
    seqs, frames = [s for s, _ in pairs], [f for _, f in pairs]
    naive = _naive_neighbours(pairs, window)
    assert neighbour_counts(seqs, frames, window).tolist() == naive
    expected_share = np.mean([c > 0 for c in naive]) if pairs else 0.0
    assert temporal_redundancy(seqs, frames, window) == pytest.approx(expected_share)


@settings(max_examples=60, deadline=None)
@given(pairs=frame_lists, gap=st.integers(0, 5))
def test_runs_partition_into_maximal_runs(pairs, gap):
    seqs, frames = [s for s, _ in pairs], [f for _, f in pairs]
    found = runs(seqs, frames, gap)
    members = sorted(int(i) for r in found for i in r)
    assert members == list(range(len(pairs)))
    for r in found:
        assert len({seqs[i] for i in r}) == 1
        steps = np.diff([frames[i] for i in r])
        assert np.all(steps >= 0) and np.all(steps <= gap)
    for r1 in found:  # maximal: no frame outside the run is within gap of its ends
        s = seqs[r1[0]]
        lo, hi = frames[r1[0]], frames[r1[-1]]
        outside = [frames[i] for i in range(len(pairs)) if seqs[i] == s and i not in set(r1)]
        assert all(f < lo - gap or f > hi + gap for f in outside)


@settings(max_examples=60, deadline=None)
@given(pairs=frame_lists, extra=st.tuples(st.sampled_from(["p", "q"]), st.integers(0, 60)))
def test_adding_a_frame_never_removes_redundancy(pairs, extra):
    seqs, frames = [s for s, _ in pairs], [f for _, f in pairs]
    before = neighbour_counts(seqs, frames, 3) > 0
    after = neighbour_counts(seqs + [extra[0]], frames + [extra[1]], 3)[:-1] > 0
    assert np.all(after >= before)


@settings(max_examples=40, deadline=None)
@given(
    starts=st.lists(st.integers(0, 1000), min_size=1, max_size=20, unique=True),
    window=st.integers(0, 9),
)
def test_frames_far_apart_are_not_redundant(starts, window):
    frames = [s * 10 for s in starts]  # pairwise distance >= 10 > window
    assert temporal_redundancy(["seq"] * len(frames), frames, window) == 0.0
    assert run_sizes(["seq"] * len(frames), frames, gap=window).tolist() == [1] * len(frames)


@settings(max_examples=40, deadline=None)
@given(pairs=frame_lists)
def test_redundancy_grows_with_window(pairs):
    seqs, frames = [s for s, _ in pairs], [f for _, f in pairs]
    shares = [temporal_redundancy(seqs, frames, k) for k in (0, 1, 5, 20)]
    assert shares == sorted(shares)
