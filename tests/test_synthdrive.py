"""The embedded synthdrive benchmark: shapes, determinism, splits, options and class statistics."""

from __future__ import annotations

import numpy as np
import pytest

from alseg.data.base import IGNORE_INDEX, check_sample
from alseg.data.cityscapes import CLASS_NAMES as CITYSCAPES_CLASS_NAMES
from alseg.data.registry import create_dataset
from alseg.data.synthdrive import create as create_synthdrive
from alseg.data.synthdrive.cache import FrameCache
from alseg.data.synthdrive.dataset import synthdrive_size
from alseg.data.synthdrive.labels import LIGHT, PERSON, USED_CLASS_IDS
from alseg.data.synthdrive.style import CONDITIONS, MAX_DRIVES, drive_condition
from alseg.errors import ConfigError


def small(**options):
    return create_synthdrive("train", **{"num_drives": 3, "frames_per_drive": 40, **options})


def test_sample_shapes_dtypes_and_class_ids():
    ds = small()
    assert len(ds) == 120
    assert ds.class_names == CITYSCAPES_CLASS_NAMES and len(ds.class_colors) == 19
    seen = set()
    for index in (0, 39, 57, 119):
        sample = check_sample(ds[index], ds.num_classes, "synthdrive")
        assert sample.image.shape == (64, 128, 3) and sample.image.dtype == np.uint8
        assert sample.mask.shape == (64, 128) and sample.mask.dtype == np.int64
        seen |= set(np.unique(sample.mask).tolist())
        assert sample.image.std() > 5  # not a blank frame
    assert seen <= set(USED_CLASS_IDS) | {IGNORE_INDEX}
    assert {0, 10} <= seen  # road and sky in every drive


def test_registry_builds_it():
    ds = create_dataset("synthdrive", "train", num_drives=2, frames_per_drive=5)
    assert len(ds) == 10 and ds.name == "synthdrive"


def test_frames_are_deterministic_whatever_the_order():
    first = small()
    late, early = first[100], first[3]
    fresh = small()
    for index, sample in ((3, early), (100, late)):
        again = fresh[index]
        np.testing.assert_array_equal(again.image, sample.image)
        np.testing.assert_array_equal(again.mask, sample.mask)
        np.testing.assert_array_equal(first[index].image, sample.image)


def test_seeds_and_drives_give_different_worlds():
    a, b = small(seed=0), small(seed=1)
    assert not np.array_equal(a[5].image, b[5].image)
    assert not np.array_equal(a[5].mask, b[5].mask)
    assert not np.array_equal(a[5].mask, a[45].mask)  # drive 0 vs drive 1, same frame


def test_a_smaller_train_set_is_a_prefix_of_a_larger_one():
    short, long = small(frames_per_drive=10), small(frames_per_drive=40)
    np.testing.assert_array_equal(short[12].image, long[42].image)  # drive 1, frame 2


def test_meta_matches_samples():
    ds = small(seed=7)
    meta = ds.meta(45)
    assert (meta.sequence, meta.frame) == ("drive_001", 5)
    assert meta.path == "synthdrive://seed7/drive1/frame5"
    assert ds[45].meta == meta


def test_val_drives_are_held_out_and_cover_every_condition_once():
    train = create_synthdrive("train", num_drives=MAX_DRIVES, frames_per_drive=1)
    val = create_synthdrive("val")
    train_sequences = {train.meta(i).sequence for i in range(len(train))}
    val_metas = [val.meta(i) for i in range(len(val))]
    assert len(val) == 9 * len(CONDITIONS) == 243
    assert train_sequences.isdisjoint(m.sequence for m in val_metas)
    drives = sorted({int(m.sequence.split("_")[1]) for m in val_metas})
    assert sorted(drive_condition(0, d) for d in drives) == sorted(CONDITIONS)
    frames = sorted({m.frame for m in val_metas})
    assert frames == list(range(20, 20 + 9 * 40, 40))
    assert len(create_synthdrive("val", num_drives=2, val_frames_per_drive=2)) == 54


def test_train_drives_cycle_through_all_conditions():
    conditions = [drive_condition(3, d) for d in range(len(CONDITIONS))]
    assert sorted(conditions) == sorted(CONDITIONS)
    assert conditions != [drive_condition(4, d) for d in range(len(CONDITIONS))]


def test_every_used_class_occurs_in_val_and_rare_classes_stay_rare():
    val = create_synthdrive("val", val_frames_per_drive=2)
    counts = np.zeros(256, dtype=np.int64)
    frames_with = np.zeros(256, dtype=np.int64)
    for index in range(len(val)):
        frame_counts = np.bincount(val[index].mask.ravel(), minlength=256)
        counts += frame_counts
        frames_with += frame_counts > 0
    assert set(np.flatnonzero(counts).tolist()) == set(USED_CLASS_IDS) | {IGNORE_INDEX}
    share = counts / counts.sum()
    for rare in (PERSON, LIGHT):
        assert 0 < share[rare] < 0.02
        assert frames_with[rare] < 0.6 * len(val)  # clustered in some drives, not everywhere
    assert share[IGNORE_INDEX] < 0.02


def test_labels_agree_across_resolutions():
    low = small(image_size=(64, 128))[30].mask
    high = small(image_size=(128, 256))[30].mask
    assert np.mean(high[::2, ::2] == low) > 0.85


@pytest.mark.parametrize("size", [(32, 64), (48, 96), (128, 256), "64x64", [256, 512]])
def test_image_sizes(size):
    sample = small(image_size=size)[11]
    height, width = synthdrive_size(size)
    assert sample.image.shape == (height, width, 3) and sample.mask.shape == (height, width)


def test_frame_cache_returns_equal_fresh_copies_of_the_rendered_frame():
    dataset = small()
    drive, frame = dataset.locate(4)
    rendered_image, rendered_mask = dataset.render(drive, frame)
    first, second = dataset[4], dataset[4]
    assert first.image is not second.image and first.mask is not second.mask
    for sample in (first, second):
        np.testing.assert_array_equal(sample.image, rendered_image)
        np.testing.assert_array_equal(sample.mask, rendered_mask)
        assert sample.mask.dtype == rendered_mask.dtype
    first.image[:] = 0  # a caller writing to its copy leaves the cache intact
    np.testing.assert_array_equal(dataset[4].image, rendered_image)


def test_frame_cache_keeps_its_byte_budget_least_recently_used_out():
    cache = FrameCache(budget_bytes=3 * 40)
    image, mask = np.ones((2, 4, 3), np.uint8), np.full((2, 4), 255, np.int64)  # 24 + 8 bytes
    for frame in range(4):
        cache.put((0, 0, frame, 2, 4), image, mask)
    assert len(cache) == 3 and cache.used_bytes == 3 * 32
    assert cache.get((0, 0, 0, 2, 4)) is None
    cache.get((0, 0, 1, 2, 4))  # frame 1 becomes the most recent
    cache.resize(2 * 32)
    assert cache.get((0, 0, 2, 2, 4)) is None and cache.get((0, 0, 1, 2, 4)) is not None
    assert cache.get((0, 0, 1, 2, 4))[1].tolist() == mask.tolist()
    cache.resize(0)
    assert len(cache) == 0 and cache.used_bytes == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": (63, 128)}, "63x128"),
        ({"image_size": (64, 1024)}, "64x1024"),
        ({"image_size": (512, 512)}, "multiples of 16"),
        ({"image_size": "big"}, "'big'"),
        ({"image_size": (64, 128, 3)}, "image_size"),
        ({"num_drives": 0}, "num_drives=0"),
        ({"num_drives": MAX_DRIVES + 1}, "1..1000"),
        ({"frames_per_drive": 0}, "frames_per_drive=0"),
        ({"frames_per_drive": 2.5}, "frames_per_drive=2.5"),
        ({"seed": -1}, "seed=-1"),
        ({"seed": True}, "seed=True"),
        ({"val_frames_per_drive": 0}, "val_frames_per_drive"),
        ({"cache_mb": -1}, "cache_mb"),
        ({"speed": 2}, "unknown synthdrive option 'speed'"),
    ],
)
def test_invalid_options_name_the_value(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        create_synthdrive("train", **options)


def test_root_and_unknown_split_are_rejected():
    with pytest.raises(ConfigError, match="no data root"):
        create_synthdrive("train", root="/data")
    with pytest.raises(ConfigError, match="unknown split 'test'"):
        create_synthdrive("test")


def test_camera_waits_at_red_lights_while_persons_cross():
    ds = create_synthdrive("train", num_drives=8, frames_per_drive=300)
    waiting = [d for d in range(8) if len(ds.drive(d).stops(100.0))]
    assert waiting and all(ds.style(d).road != "highway" for d in waiting)
    drive = ds.drive(waiting[0])
    stop, arrive, wait = drive.stops(100.0)[0]
    speed = ds.style(waiting[0]).speed
    times = np.arange(0, arrive + wait + 50, 1.0)
    positions = np.array([drive.position(t) for t in times])
    steps = np.diff(positions)
    assert np.all(steps >= 0) and steps.max() == pytest.approx(speed)
    during = (times[1:] > arrive + 1) & (times[1:] < arrive + wait - 1)
    assert np.all(steps[during] == 0) and positions[int(arrive) + 2] == pytest.approx(stop)
    frames = range(int(arrive) + 2, int(arrive + wait), 10)
    masks = [drive.render(t, 64, 128)[1] for t in frames]
    assert any((m == PERSON).mean() > 0.01 for m in masks)  # large persons on the zebra
    assert all((m == LIGHT).any() for m in masks)
