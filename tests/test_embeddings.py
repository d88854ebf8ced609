from __future__ import annotations

import numpy as np
import pytest
import torch

from alseg.data.base import FrameMeta, Sample, SegDataset, SubsetDataset
from alseg.data.pools import PoolDataset, PoolEntry, build_pool
from alseg.data.registry import create_dataset
from alseg.embeddings import (
    ResizedDataset,
    dataset_redundancy,
    has_time_structure,
    imagenet_model,
    pool_embeddings,
    sequence_positions,
)
from alseg.errors import ConfigError
from alseg.neighbours import NEAR_DUPLICATE_FRACTION
from tests.fakes import BlobDataset

torch.set_num_threads(1)


class SparseVideo(SegDataset):
    """Two sequences whose frame numbers are sparse (as A2D2's) and given out of order."""

    name = "sparse"
    class_names = ("a", "b")

    def __init__(self) -> None:
        self.items = [("s1", 40), ("s0", 7), ("s1", 3), ("s0", 500), ("s1", 90), ("s0", 64)]

    def __len__(self) -> int:
        return len(self.items)

    def meta(self, index: int) -> FrameMeta:
        return FrameMeta(*self.items[index])

    def load(self, index: int) -> Sample:
        size = (6 + index, 10)  # every image has its own size
        image = np.full((*size, 3), 30 * index, dtype=np.uint8)
        return Sample(image, np.zeros(size, dtype=np.int64), self.meta(index))


def test_positions_rank_frames_within_each_sequence():
    sequences, positions = sequence_positions(SparseVideo())
    assert sequences == ["s1", "s0", "s1", "s0", "s1", "s0"]
    # s0 frames 7 < 64 < 500, s1 frames 3 < 40 < 90
    assert positions == [1, 0, 0, 2, 2, 1]


def test_positions_of_a_pool_count_the_frames_of_the_whole_dataset():
    base = SparseVideo()
    pool = PoolDataset(base, [PoolEntry(3), PoolEntry(4), PoolEntry(4, aug_seed=1)], kind="aug")
    assert sequence_positions(pool) == (["s0", "s1", "s1"], [2, 2, 2])
    subset = SubsetDataset(base, [5, 0])
    assert sequence_positions(subset) == (["s0", "s1"], [1, 1])


def test_time_structure_needs_two_images_of_one_sequence():
    assert has_time_structure(["a", "b", "a"])
    assert not has_time_structure(["a", "b", "c"])


def test_resized_dataset_samples_mask_pixel_centres():
    base = BlobDataset(sequences=1, frames=1, size=4)
    sample = base[0]
    small = ResizedDataset(base, (2, 2))[0]
    assert small.image.shape == (2, 2, 3) and small.image.dtype == np.uint8
    np.testing.assert_array_equal(small.mask, sample.mask[np.ix_([1, 3], [1, 3])])
    large = ResizedDataset(base, (8, 12))[0]
    rows, cols = np.arange(8) // 2, np.arange(12) // 3
    np.testing.assert_array_equal(large.mask, sample.mask[np.ix_(rows, cols)])
    np.testing.assert_array_equal(ResizedDataset(base, (4, 4))[0].image, sample.image)
    with pytest.raises(ConfigError, match="positive"):
        ResizedDataset(base, (0, 4))


def test_embeddings_match_the_model_image_by_image():
    data = BlobDataset(sequences=2, frames=3, size=32)
    embeddings = pool_embeddings(data, device="cpu", batch_size=4, seed=3)
    assert embeddings.shape == (6, 1024) and embeddings.dtype == np.float32
    model = imagenet_model(data.num_classes, seed=3).eval()
    for i in (0, 4):
        image = torch.from_numpy(data[i].image).permute(2, 0, 1).float()[None] / 255
        with torch.no_grad():
            expected = model.embed(image)[0].numpy()
        np.testing.assert_allclose(embeddings[i], expected, rtol=1e-4, atol=1e-5)
    again = pool_embeddings(data, device="cpu", batch_size=1, seed=3)
    np.testing.assert_allclose(again, embeddings, rtol=1e-4, atol=1e-5)
    other_head = pool_embeddings(data, device="cpu", seed=4)
    assert not np.allclose(other_head, embeddings)


def test_images_of_different_sizes_are_resized_to_a_common_size():
    data = SparseVideo()
    embeddings = pool_embeddings(data, device="cpu", image_size=(16, 16))
    model = imagenet_model(data.num_classes).eval()
    batch = torch.stack(
        [
            torch.from_numpy(ResizedDataset(data, (16, 16))[i].image).permute(2, 0, 1).float()
            for i in range(len(data))
        ]
    )
    with torch.no_grad():
        expected = model.embed(batch / 255).numpy()
    np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-5)


def test_redundancy_without_sequences_uses_embeddings_only():
    data = SubsetDataset(BlobDataset(sequences=4, frames=1, size=32), [0, 1, 2, 3])
    embeddings = np.random.default_rng(0).standard_normal((4, 8))
    report = dataset_redundancy(data, embeddings)
    assert report.temporal_redundancy is None
    assert report.index == report.embedding_redundancy
    video = BlobDataset(sequences=2, frames=2, size=32)
    report = dataset_redundancy(video, embeddings)
    assert report.temporal_redundancy == pytest.approx(0.5)  # 2 runs of 2 frames


# --- calibration on synthdrive with the ImageNet-pretrained encoder --------------------------

POOL_SIZE = 120


@pytest.fixture(scope="module")
def synthdrive_reports():
    train = create_dataset("synthdrive", "train")
    reports = {}
    for kind in ("0f", "5f", "11f", "21f", "aug"):
        pool = build_pool(train, kind, POOL_SIZE, seed=0)
        embeddings = pool_embeddings(pool, device="cpu", batch_size=40)
        reports[kind] = dataset_redundancy(pool, embeddings)
    return reports


@pytest.mark.slow
def test_index_grows_with_the_number_of_consecutive_frames(synthdrive_reports):
    index = {kind: report.index for kind, report in synthdrive_reports.items()}
    assert index["0f"] < index["5f"] < index["11f"] < index["21f"], index


def test_calibrated_radius_separates_diverse_from_redundant_pools(synthdrive_reports):
    assert NEAR_DUPLICATE_FRACTION == 0.5
    regime = {kind: report.regime for kind, report in synthdrive_reports.items()}
    assert regime == {
        "0f": "diverse",
        "5f": "redundant",
        "11f": "redundant",
        "21f": "redundant",
        "aug": "redundant",
    }
    embedding = {k: r.embedding_redundancy for k, r in synthdrive_reports.items()}
    assert embedding["0f"] < embedding["11f"] < embedding["21f"], embedding
    assert embedding["0f"] < embedding["aug"]
