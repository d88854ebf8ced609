"""Label agreement between frames of a sequence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alseg.data.agreement import frame_pairs, label_agreement, pair_agreement
from alseg.data.base import IGNORE_INDEX, FrameMeta, Sample, SegDataset
from alseg.data.synthdrive import create as create_synthdrive
from alseg.errors import ConfigError, DataError


class Stripes(SegDataset):
    """Frame t of sequence q: class 1 in the first (t * (q + 1)) % 16 columns, 0 elsewhere; the
    last column is unlabeled. Frames are listed out of order to test the pairing."""

    name = "stripes"
    class_names = ("zero", "one")

    def __init__(self, frames: list[tuple[str, int]], size: int = 16) -> None:
        self.frames, self.size = frames, size

    def __len__(self) -> int:
        return len(self.frames)

    def meta(self, index: int) -> FrameMeta:
        sequence, frame = self.frames[index]
        return FrameMeta(sequence, frame, f"{sequence}/{frame}")

    def load(self, index: int) -> Sample:
        sequence, frame = self.frames[index]
        width = (frame * (int(sequence[1:]) + 1)) % 16
        mask = np.zeros((4, self.size), dtype=np.int64)
        mask[:, :width] = 1
        mask[:, -1] = IGNORE_INDEX
        return Sample(np.zeros((4, self.size, 3), np.uint8), mask, self.meta(index))


FRAMES = [("q0", 3), ("q0", 1), ("q1", 1), ("q0", 2), ("q1", 2), ("q0", 5), ("q1", 9)]


def naive(first: np.ndarray, second: np.ndarray) -> float:
    same = total = 0
    for a, b in zip(first.ravel().tolist(), second.ravel().tolist(), strict=True):
        if a != IGNORE_INDEX and b != IGNORE_INDEX:
            total += 1
            same += a == b
    return same / total


def test_pair_agreement_matches_a_naive_count():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.choice([0, 1, 2, IGNORE_INDEX], size=(5, 7))
        b = rng.choice([0, 1, 2, IGNORE_INDEX], size=(5, 7))
        a[0, 0] = b[0, 0] = 1  # at least one pixel labeled in both
        assert pair_agreement(a, b) == pytest.approx(naive(a, b))
    assert pair_agreement(np.full((2, 2), IGNORE_INDEX), np.zeros((2, 2))) is None


def test_frame_pairs_stay_within_sequences():
    ds = Stripes(FRAMES)
    assert sorted(frame_pairs(ds, 1)) == [(1, 3), (2, 4), (3, 0)]
    assert sorted(frame_pairs(ds, 2)) == [(0, 5), (1, 0)]
    assert frame_pairs(ds, 6) == []


def test_label_agreement_is_the_mean_over_pairs():
    ds = Stripes(FRAMES)
    result = label_agreement(ds, lags=(1, 2, 6))
    expected_1 = np.mean([naive(ds[i].mask, ds[j].mask) for i, j in frame_pairs(ds, 1)])
    expected_2 = np.mean([naive(ds[i].mask, ds[j].mask) for i, j in frame_pairs(ds, 2)])
    assert result[1] == pytest.approx(expected_1)
    # q0 frames 1->2 and 2->3 each move the edge by one of 15 labeled columns; q1 1->2 by two.
    assert result[1] == pytest.approx(np.mean([14 / 15, 14 / 15, 13 / 15]))
    assert result[2] == pytest.approx(expected_2)
    assert math.isnan(result[6])


def test_pairs_are_sampled_deterministically():
    frames = [(f"q{q}", t) for q in range(3) for t in range(30)]
    ds = Stripes(frames)
    a = label_agreement(ds, lags=(1,), max_pairs=5, seed=1)
    assert a == label_agreement(ds, lags=(1,), max_pairs=5, seed=1)
    assert label_agreement(ds, lags=(1,), max_pairs=500)[1] == pytest.approx(
        np.mean([naive(ds[i].mask, ds[j].mask) for i, j in frame_pairs(ds, 1)])
    )


def test_bad_arguments_and_inconsistent_masks():
    ds = Stripes(FRAMES)
    with pytest.raises(ConfigError, match="lag 0"):
        label_agreement(ds, lags=(0,))
    with pytest.raises(ConfigError, match="max_pairs 0"):
        label_agreement(ds, max_pairs=0)

    class Resized(Stripes):
        def load(self, index: int) -> Sample:
            sample = super().load(index)
            if index == 0:
                sample.mask = sample.mask[:, :8]
            return sample

    with pytest.raises(DataError, match="q0/2 and q0/3"):
        label_agreement(Resized(FRAMES), lags=(1,))


def test_synthdrive_frames_overlap_heavily_at_lag_1_and_much_less_at_lag_20():
    ds = create_synthdrive("train", num_drives=3, frames_per_drive=45)
    result = label_agreement(ds, lags=(1, 20), max_pairs=24)
    assert result[1] > 0.95
    assert 0.6 < result[20] < result[1] - 0.04
