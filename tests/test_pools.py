from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.frames import parse_frame_path
from alseg.data.pools import (
    AUG_CROP_SIDE,
    AUG_DUPLICATES,
    AUG_JITTER,
    PoolDataset,
    PoolEntry,
    build_pool,
    pool_aug,
    pool_from_list,
    read_pool_list,
)
from alseg.data.temporal import frames_per_sequence
from alseg.errors import ConfigError, DataError


def base_indices(pool: PoolDataset) -> np.ndarray:
    return np.asarray([entry.base_index for entry in pool.entries])


class FakeVideo(SegDataset):
    """Sequences of frames numbered ``3 * j + 100`` (sparse numbering), stored shuffled."""

    name = "fakevideo"
    class_names = ("road", "car", "sky")

    def __init__(self, lengths: list[int]) -> None:
        items = [(f"seq{s}", 100 + 3 * j) for s, n in enumerate(lengths) for j in range(n)]
        order = np.random.default_rng(123).permutation(len(items))
        self.items = [items[i] for i in order]

    def __len__(self) -> int:
        return len(self.items)

    def meta(self, index: int) -> FrameMeta:
        seq, frame = self.items[index]
        return FrameMeta(seq, frame, f"/data/root/{seq}/img/{seq}_{frame:06d}.png")

    def load(self, index: int) -> Sample:
        rng = np.random.default_rng(index)
        image = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
        mask = rng.integers(0, 3, size=(12, 20)).astype(np.int64)
        return Sample(image, mask, self.meta(index))


def rank(ds: SegDataset, index: int) -> tuple[str, int]:
    """(sequence, position in time order) of a frame of FakeVideo."""
    seq, frame = ds.meta(index).sequence, ds.meta(index).frame
    return seq, (frame - 100) // 3


def groups_of(pool: PoolDataset) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i in range(len(pool)):
        groups.setdefault(pool.meta(i).group, []).append(i)
    return groups


@pytest.mark.parametrize(("x", "size"), [(5, 47), (11, 44), (21, 60), (1, 30)])
def test_xf_pool_groups_are_consecutive_and_disjoint(x, size):
    ds = FakeVideo([50, 37, 64, 9])
    pool = build_pool(ds, f"{x}f", size, seed=3)
    assert len(pool) == size
    assert len(set(base_indices(pool).tolist())) == size  # no frame twice
    groups = groups_of(pool)
    assert len(groups) == math.ceil(size / x)
    sizes = [len(members) for members in groups.values()]
    assert sizes[:-1] == [x] * (len(groups) - 1)
    assert sizes[-1] == size - (len(groups) - 1) * x
    for members in groups.values():
        assert members == list(range(members[0], members[0] + len(members)))  # contiguous
        ranks = [rank(ds, int(base_indices(pool)[i])) for i in members]
        assert len({s for s, _ in ranks}) == 1
        positions = [p for _, p in ranks]
        assert positions == list(range(positions[0], positions[0] + len(positions)))


def test_pools_are_deterministic_per_seed():
    ds = FakeVideo([40, 40, 40])
    first = base_indices(build_pool(ds, "5f", 30, seed=7))
    assert np.array_equal(first, base_indices(build_pool(ds, "5f", 30, seed=7)))
    assert not np.array_equal(first, base_indices(build_pool(ds, "5f", 30, seed=8)))


def test_xf_groups_spread_over_sequences_and_positions():
    ds = FakeVideo([30, 30])
    seen_seqs, seen_starts = set(), set()
    for seed in range(40):
        pool = build_pool(ds, "5f", 5, seed=seed)
        seq, start = rank(ds, int(base_indices(pool)[0]))
        seen_seqs.add(seq)
        seen_starts.add(start)
    assert seen_seqs == {"seq0", "seq1"}
    assert len(seen_starts) > 10  # anchors are not restricted to a grid


def test_xf_pool_at_exact_capacity_uses_a_leftover_for_the_short_group():
    ds = FakeVideo([10, 7, 4])  # groups of 5: two fit in seq0, one in seq1; 2 and 4 frames left
    for seed in range(5):
        pool = build_pool(ds, "5f", 19, seed=seed)  # the short group of 4 fits in seq2 only
        per_seq = frames_per_sequence([pool.meta(i).sequence for i in range(len(pool))])
        assert per_seq == {"seq0": 10, "seq1": 5, "seq2": 4}
    with pytest.raises(ConfigError, match=r"size 20 needs 4 groups of 5 .* at most 19 frames"):
        build_pool(ds, "5f", 20, seed=0)


def test_random_and_all_pools():
    ds = FakeVideo([20, 20])
    pool = build_pool(ds, "0f", 15, seed=1)
    assert len(set(base_indices(pool).tolist())) == 15
    assert sorted(len(m) for m in groups_of(pool).values()) == [1] * 15
    assert np.array_equal(base_indices(build_pool(ds, "random", 15, seed=1)), base_indices(pool))
    everything = build_pool(ds, "all", None, seed=1)
    assert base_indices(everything).tolist() == list(range(40))
    assert everything.meta(3) == ds.meta(3)  # group stays -1


def test_pool_size_and_kind_errors():
    ds = FakeVideo([20, 20])
    with pytest.raises(ConfigError, match="pool size 5000 larger than dataset fakevideo with 40"):
        build_pool(ds, "random", 5000, seed=0)
    with pytest.raises(ConfigError, match=r"allowed: 0f, <X>f, all, aug, list:FILE, random"):
        build_pool(ds, "10frames", 10, seed=0)
    with pytest.raises(ConfigError, match="unknown pool kind '0xf'"):
        build_pool(ds, "0xf", 10, seed=0)
    with pytest.raises(ConfigError, match="whole dataset"):
        build_pool(ds, "all", 10, seed=0)
    with pytest.raises(ConfigError):
        build_pool(ds, "5f", 0, seed=0)


def test_aug_pool_groups_anchor_and_duplicates():
    ds = FakeVideo([30, 30])
    pool = build_pool(ds, "aug", 15, seed=2)
    assert len(pool) == 15
    per_group = AUG_DUPLICATES + 1
    for g, members in groups_of(pool).items():
        entries = [pool.entries[i] for i in members]
        assert entries[0].aug_seed is None
        assert all(e.aug_seed is not None for e in entries[1:])
        assert {e.base_index for e in entries} == {entries[0].base_index}
        assert len(entries) == (per_group if g < 2 else 15 - 2 * per_group)
    anchor, duplicate = pool[0], pool[1]
    assert np.array_equal(anchor.image, ds[pool.entries[0].base_index].image)
    assert np.array_equal(duplicate.image, pool[1].image)  # deterministic per seed
    assert duplicate.image.shape == anchor.image.shape and duplicate.image.dtype == np.uint8
    assert duplicate.mask.dtype == anchor.mask.dtype and duplicate.mask.shape == anchor.mask.shape
    assert not np.array_equal(duplicate.image, anchor.image)
    assert duplicate.meta.group == 0


def test_pool_aug_mask_is_a_nearest_resize_of_the_crop():
    height, width = 40, 60
    mask = np.arange(height * width, dtype=np.int64).reshape(height, width) % 251
    image = np.zeros((height, width, 3), dtype=np.uint8)
    _, out = pool_aug(image, mask, seed=5)
    crop_h, crop_w = round(AUG_CROP_SIDE * height), round(AUG_CROP_SIDE * width)
    matches = []
    for top in range(height - crop_h + 1):
        for left in range(width - crop_w + 1):
            crop = Image.fromarray(mask[top : top + crop_h, left : left + crop_w].astype(np.uint8))
            resized = np.asarray(crop.resize((width, height), Image.Resampling.NEAREST))
            matches.append(np.array_equal(resized, out))
    assert sum(matches) == 1


def test_pool_aug_jitter_on_a_flat_image():
    image = np.full((16, 16, 3), 100, dtype=np.uint8)
    out, _ = pool_aug(image, np.zeros((16, 16), dtype=np.int64), seed=11)
    assert len(np.unique(out)) == 1  # a flat grey image stays flat: only brightness acts
    assert 100 * (1 - AUG_JITTER) - 1 <= out[0, 0, 0] <= 100 * (1 + AUG_JITTER) + 1


def test_read_pool_list_quirks(tmp_path):
    path = tmp_path / "lab_images_100.txt"
    path.write_text("a/x_1.png\nb/y_2.png\n\nc/z_3.png\n  \nb/y_2.png\na/x_1.png")
    assert read_pool_list(path, dedupe=True) == ["a/x_1.png", "b/y_2.png", "c/z_3.png"]
    assert len(read_pool_list(path)) == 5
    with pytest.raises(DataError, match="not found"):
        read_pool_list(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        read_pool_list(tmp_path / "empty.txt")


def test_pool_from_list_matches_suffixes_and_groups_runs(tmp_path):
    ds = FakeVideo([10, 10])
    names = [
        "seq0/img/seq0_000103.png",  # position 1
        "seq1/img/seq1_000100.png",
        "seq0/img/seq0_000106.png",  # position 2: joins position 1
        "./seq0/img/seq0_000115.png",  # position 5
    ]
    pool = pool_from_list(ds, names, source="mylist")
    assert [pool.meta(i).path.endswith(n.lstrip("./")) for i, n in enumerate(names)] == [True] * 4
    groups = [pool.meta(i).group for i in range(4)]
    assert groups[0] == groups[2] and len(set(groups)) == 3
    with pytest.raises(
        DataError, match="'seq0/img/seq0_000999.png' not found in dataset fakevideo"
    ):
        pool_from_list(ds, ["seq0/img/seq0_000999.png"])
    with pytest.raises(DataError, match="not a relative path inside"):
        pool_from_list(ds, ["../seq0/img/seq0_000103.png"])
    list_file = tmp_path / "pool.txt"
    list_file.write_text("\n".join(names[:3] + names[:1]))
    assert len(build_pool(ds, f"list:{list_file}", None, seed=0, dedupe=True)) == 3
    copies = build_pool(ds, f"list:{list_file}", 4, seed=0)  # the paper's code: every line
    assert copies.meta(3).path == copies.meta(0).path and copies.meta(3).group == groups[0]
    with pytest.raises(ConfigError, match="pool size 5 differs"):
        build_pool(ds, f"list:{list_file}", 5, seed=0)
    with pytest.raises(DataError):
        build_pool(ds, f"list:{tmp_path / 'nope.txt'}", None, seed=0)


def test_pool_dataset_view():
    ds = FakeVideo([5])
    pool = PoolDataset(ds, [PoolEntry(3, None, 7), PoolEntry(0)], kind="custom")
    assert base_indices(pool).tolist() == [3, 0]
    assert pool.meta(0).group == 7 and pool.meta(0).frame == ds.meta(3).frame
    assert pool.class_names == ds.class_names and pool.num_classes == 3
    assert np.array_equal(pool[1].mask, ds[0].mask)
    with pytest.raises(ValueError):
        PoolDataset(ds, [PoolEntry(5)])


class ListedFrames(SegDataset):
    """Metadata-only dataset of the frames a list names (the official lists' A2D2 paths)."""

    name = "listed"
    class_names = ("a",)

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def meta(self, index: int) -> FrameMeta:
        sequence, frame = parse_frame_path(self.paths[index])
        return FrameMeta(sequence, frame, "root/" + self.paths[index])

    def load(self, index: int) -> Sample:
        raise AssertionError("pools are built from metadata")


OFFICIAL_LISTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "a2d2_pools"


@pytest.mark.skipif(not OFFICIAL_LISTS.is_dir(), reason="../shared/data/a2d2_pools is absent")
@pytest.mark.parametrize(("x", "lines"), [(0, 2640), (5, 2640), (11, 2640), (21, 2680)])
def test_official_lists_give_the_papers_pool_sizes(x, lines):
    path = OFFICIAL_LISTS / f"pool_{x}f" / "lab_images_100.txt"
    unique = read_pool_list(path, dedupe=True)
    frames = ListedFrames(unique)
    pool = build_pool(frames, f"list:{path}", lines, seed=0)  # the paper's code: every line
    assert len(pool) == lines
    deduped = build_pool(frames, f"list:{path}", None, seed=0, dedupe=True)
    assert len(deduped) == len(unique) == len(set(read_pool_list(path)))
    assert x > 0 or len(unique) == 2640  # only the Xf lists repeat their first block
