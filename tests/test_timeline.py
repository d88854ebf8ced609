import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.acquisition.timeline import uniform_in_time

NOTHING = np.array([], dtype=np.int64)


def test_from_nothing_picks_are_evenly_spaced_per_sequence():
    sequences = ["a"] * 10 + ["b"] * 5
    frames = list(range(9, -1, -1)) + list(range(5))  # sequence a is stored backwards
    # a (10 frames) gets the first two picks' worth of spacing: 10/1 > 5/1 -> a, then b, then a
    # (10/1 = 10 vs 5/1 = 5 -> a: 10/2 = 5 ties b's 5 -> the longer, a)
    picks = uniform_in_time(sequences, frames, NOTHING, np.arange(15), 3)
    assert [(sequences[i], frames[i]) for i in picks] == [("a", 2), ("a", 7), ("b", 2)]


def test_picks_fill_the_largest_gaps_between_labeled_frames():
    sequences, frames = ["s"] * 21, list(range(21))
    labeled = np.array([0, 20])
    first = uniform_in_time(sequences, frames, labeled, np.arange(1, 20), 1)
    assert first.tolist() == [10]
    labeled = np.array([0, 10, 20])
    second = uniform_in_time(sequences, frames, labeled, np.setdiff1d(np.arange(21), labeled), 2)
    assert second.tolist() == [5, 15]


def test_end_gaps_count_double():
    """A frame at the end 6 frames from a label is as uncovered as the middle of a 12-frame gap."""
    sequences, frames = ["s"] * 19, list(range(19))
    labeled = np.array([6, 12])  # left end 6, interior 6, right end 6
    picks = uniform_in_time(sequences, frames, labeled, np.setdiff1d(np.arange(19), labeled), 2)
    assert picks.tolist() == [2, 16]  # both ends (spacing 12 > 6), each a third of the way in


def test_a_second_uniform_cycle_does_not_land_beside_the_first():
    """The issue's case: 4 drives x 250 frames, 100 picks, then 100 more."""
    sequences = np.repeat([f"d{i}" for i in range(4)], 250).tolist()
    frames = np.tile(np.arange(250), 4)
    first = uniform_in_time(sequences, frames, NOTHING, np.arange(1000), 100)
    rest = np.setdiff1d(np.arange(1000), first)
    second = uniform_in_time(sequences, frames, first, rest, 100)
    beside = [
        p for p in second
        if any(sequences[q] == sequences[p] and abs(frames[q] - frames[p]) <= 2 for q in first)
    ]  # fmt: skip
    assert len(beside) == 0
    together = np.sort(np.concatenate([first, second]))
    gaps = np.diff(frames[together][np.asarray(sequences)[together] == "d0"])
    assert gaps.min() >= 3 and gaps.max() <= 6 and np.median(gaps) == 5  # about every 5th


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    data=st.data(),
)
def test_k_distinct_candidates_and_even_from_nothing(lengths, data):
    sequences = np.repeat([f"s{i}" for i in range(len(lengths))], lengths).tolist()
    frames = np.concatenate([np.arange(n) * 3 for n in lengths])
    total = len(frames)
    drawn = data.draw(st.sets(st.integers(0, total - 1), max_size=total // 3))
    labeled = np.asarray(sorted(drawn), dtype=np.int64)
    candidates = np.setdiff1d(np.arange(total), labeled)
    k = data.draw(st.integers(0, len(candidates)))
    picks = uniform_in_time(sequences, frames, labeled, candidates, k)
    assert len(set(picks.tolist())) == k and np.isin(picks, candidates).all()
    if labeled.size == 0 and len(lengths) == 1 and k > 1:
        gaps = np.diff(np.sort(frames[picks]) // 3)
        assert gaps.max() - gaps.min() <= 1


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="k=3"):
        uniform_in_time(["a", "a"], [0, 1], NOTHING, np.arange(2), 3)
    with pytest.raises(ValueError, match="equally long"):
        uniform_in_time(["a"], [0, 1], NOTHING, np.arange(1), 1)
