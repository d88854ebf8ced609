from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from alseg.data.base import IGNORE_INDEX, FrameMeta, Sample, SegDataset
from alseg.data.pools import build_pool, read_pool_list
from alseg.data.stats import (
    class_pixel_shares,
    dataset_stats,
    list_stats,
    stats_table,
    temporal_stats,
)

OFFICIAL_POOLS = Path(__file__).parents[2] / "shared" / "data" / "a2d2_pools"


class FakeVideo(SegDataset):
    """Sequences of frames numbered 0, 2, 4, ... with small deterministic masks."""

    name = "fakevideo"
    class_names = ("road", "car", "sky")

    def __init__(self, lengths: list[int]) -> None:
        self.items = [(f"seq{s}", 2 * j) for s, n in enumerate(lengths) for j in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def meta(self, index: int) -> FrameMeta:
        seq, frame = self.items[index]
        return FrameMeta(seq, frame, f"{seq}/{seq}_{frame:06d}.png")

    def load(self, index: int) -> Sample:
        mask = np.random.default_rng(index).integers(0, 4, size=(6, 8)).astype(np.int64)
        mask[mask == 3] = IGNORE_INDEX
        return Sample(np.zeros((6, 8, 3), dtype=np.uint8), mask, self.meta(index))


def test_temporal_stats_by_hand():
    stats = temporal_stats(["a", "a", "a", "b"], [1, 2, 9, 4], windows=(1, 7), gaps=(1, 7))
    assert stats["images"] == 4 and stats["sequences"] == 2
    assert stats["frames_per_sequence"] == {"min": 1, "median": 2.0, "mean": 2.0, "max": 3}
    assert [r["count"] for r in stats["runs"]] == [3, 2]
    assert stats["runs"][0]["histogram"] == {"1": 2, "2": 1}
    assert stats["redundancy"] == {"1": 0.5, "7": 0.75}
    assert stats["neighbours"] == {"1": 0.5, "7": 1.0}
    assert stats["median_nearest_gap"] == 1.0  # gaps 1, 1, 7; b alone


def test_dataset_stats_of_a_pool():
    ds = FakeVideo([30, 30, 30])
    pool = build_pool(ds, "5f", 20, seed=4)
    stats = dataset_stats(pool)
    assert stats["source"] == "fakevideo pool 5f"
    assert stats["groups"]["histogram"] == {"5": 4}
    runs = stats["runs_in_dataset_order"]
    assert sum(int(k) * v for k, v in runs["histogram"].items()) == 20
    assert all(int(k) % 5 == 0 for k in runs["histogram"])  # groups may touch, never split
    assert stats["runs"][0]["count"] == 20  # frame numbers step by 2: no run at gap 1
    assert stats["redundancy"]["5"] == 1.0
    json.dumps(stats)  # JSON-ready


def test_dataset_stats_from_pairs_and_plain_dataset():
    stats = dataset_stats([("s", 1), ("s", 2), ("t", 1)], windows=(1,))
    assert stats["redundancy"] == {"1": pytest.approx(2 / 3)}
    plain = dataset_stats(FakeVideo([4, 3]))
    assert plain["runs_in_dataset_order"]["histogram"] == {"3": 1, "4": 1}
    assert "groups" not in plain


def test_class_pixel_shares_match_a_naive_count():
    ds = FakeVideo([5, 5])
    counts = np.zeros(3)
    ignored = 0
    for i in range(len(ds)):
        mask = ds[i].mask
        for c in range(3):
            counts[c] += (mask == c).sum()
        ignored += (mask == IGNORE_INDEX).sum()
    shares = class_pixel_shares(ds)
    assert [shares[n] for n in ds.class_names] == pytest.approx(list(counts / counts.sum()))
    assert shares["ignore"] == pytest.approx(ignored / (len(ds) * 48))
    stats = dataset_stats(ds, class_frequencies=True, max_images=2)
    first_last = np.concatenate([ds[0].mask.ravel(), ds[9].mask.ravel()])
    labeled = first_last[first_last != IGNORE_INDEX]
    assert stats["class_frequencies"]["car"] == pytest.approx(np.mean(labeled == 1))
    assert stats["class_frequency_images"] == 2


def test_list_stats_and_table(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("x/run_5.png\nx/run_6.png\nx/run_7.png\ny/other_40.png\nx/run_5.png")
    stats = list_stats(path, windows=(1,), gaps=(1,))
    assert stats["lines"] == 5 and stats["duplicate_lines"] == 1 and stats["images"] == 4
    assert stats["runs"][0]["histogram"] == {"1": 1, "3": 1}
    console = Console(record=True, width=150)
    console.print(stats_table(stats))
    text = console.export_text()
    assert "5 (1 repeated)" in text and "redundancy within 1 frames" in text


OFFICIAL_ABSENT = "the official A2D2 pool lists (../shared/data/a2d2_pools) are not available"


@pytest.mark.skipif(not OFFICIAL_POOLS.is_dir(), reason=OFFICIAL_ABSENT)
def test_official_a2d2_pool_lists_order_by_redundancy():
    stats = {
        x: list_stats(OFFICIAL_POOLS / f"pool_{x}f" / "lab_images_100.txt") for x in (0, 5, 11, 21)
    }
    assert [stats[x]["lines"] for x in (0, 5, 11, 21)] == [2640, 2640, 2640, 2680]
    assert [stats[x]["images"] for x in (0, 5, 11, 21)] == [2640, 2400, 2407, 2430]
    assert [stats[x]["sequences"] for x in (0, 5, 11, 21)] == [41, 33, 33, 33]
    for k in ("1", "5", "100"):
        shares = [stats[x]["redundancy"][k] for x in (0, 5, 11, 21)]
        assert shares == sorted(shares) and len(set(shares)) == 4, (k, shares)
    for k in stats[0]["neighbours"]:
        neighbours = [stats[x]["neighbours"][k] for x in (0, 5, 11, 21)]
        assert neighbours == sorted(neighbours) and len(set(neighbours)) == 4, (k, neighbours)
    # at 20 frames the share saturates for 11f and 21f (0.545 vs 0.543): both above 5f
    assert stats[0]["redundancy"]["20"] < stats[5]["redundancy"]["20"]
    assert stats[5]["redundancy"]["20"] < min(stats[x]["redundancy"]["20"] for x in (11, 21))
    tolerant = [stats[x]["runs"][1]["mean_size"] for x in (0, 5, 11, 21)]
    assert tolerant == sorted(tolerant)


@pytest.mark.skipif(not OFFICIAL_POOLS.is_dir(), reason=OFFICIAL_ABSENT)
def test_official_lists_dedupe_keeps_the_initial_block_first():
    for x, block in ((5, 264), (11, 264), (21, 268)):
        path = OFFICIAL_POOLS / f"pool_{x}f" / "lab_images_100.txt"
        lines = read_pool_list(path, dedupe=False)
        unique = read_pool_list(path, dedupe=True)
        assert unique[:block] == lines[:block]
        assert len(set(lines[block:])) == len(lines) - block  # repeats only from the first block
        assert set(unique) == set(lines)


@pytest.mark.skipif(
    importlib.util.find_spec("alseg.data.synthdrive") is None,
    reason="alseg.data.synthdrive is not written yet",
)
def test_synthdrive_redundancy_rises_with_group_length():
    from alseg.data.registry import create_dataset

    train = create_dataset("synthdrive", "train")
    neighbours = []  # the share saturates at 1 for every Xf >= 2; the neighbour count does not
    for kind in ("0f", "5f", "11f", "21f"):
        pool = build_pool(train, kind, 210, seed=0)
        neighbours.append(dataset_stats(pool, windows=(10,))["neighbours"]["10"])
    assert neighbours == sorted(neighbours) and len(set(neighbours)) == 4, neighbours
