"""The pure pieces of the SSL trainers on tiny tensors, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alseg.errors import ConfigError
from alseg.train.ssl.common import (
    MaskFreeView,
    cutmix_boxes,
    entropy,
    gaussian_blur,
    masked_cross_entropy,
    mix,
    strong_colour,
)
from alseg.train.ssl.params import S4GANParams, U2PLParams, UniMatchParams, validate
from alseg.train.ssl.s4gan import (
    Discriminator,
    discriminator_loss,
    feature_matching_loss,
    one_hot_with_ignore,
    self_training_loss,
    self_training_mask,
)
from alseg.train.ssl.u2pl import (
    ClassQueues,
    contrastive_loss,
    decayed_percent,
    ema_decay,
    ema_update,
    entropy_extremes,
    grid_nearest,
    info_nce,
    negative_masks,
    percentile,
    reliable_mask,
    unsupervised_loss,
)
from alseg.train.ssl.unimatch import perturbed_features, pseudo_label_loss
from tests.fakes import BlobDataset

# ---- s4GAN -------------------------------------------------------------------------------------


def test_one_hot_with_ignore_zeroes_ignored_pixels() -> None:
    labels = torch.tensor([[[0, 255], [2, 1]]])
    expected = torch.tensor(
        [[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 0.0]]]]
    )
    assert torch.equal(one_hot_with_ignore(labels, 3), expected)


def test_feature_matching_zero_for_identical_batches_and_hand_value() -> None:
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert feature_matching_loss(real, real.clone()).item() == 0.0
    # batch means differ only in order of rows: still zero
    assert feature_matching_loss(real, real.flip(0)).item() == 0.0
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # means (2, 3) vs (1, 1): |1| and |2| -> 1.5
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.5)


def test_self_training_mask_is_strictly_above_threshold() -> None:
    scores = torch.tensor([0.59, 0.6, 0.61, 0.9])
    assert self_training_mask(scores, 0.6).tolist() == [False, False, True, True]


def test_self_training_loss_is_zero_without_selected_images() -> None:
    logits = torch.randn(3, 4, 5, 5, requires_grad=True)
    selected = self_training_mask(torch.tensor([0.1, 0.6, 0.3]), 0.6)
    valid = torch.ones(3, 5, 5, dtype=torch.bool)
    loss = self_training_loss(logits, selected, valid)
    assert not selected.any() and loss.item() == 0.0
    (loss + logits.sum() * 0).backward()
    assert logits.grad is not None and not logits.grad.any()


def test_self_training_loss_hand_value_uses_own_argmax_on_selected_valid_pixels() -> None:
    # image 0 (not selected) would be expensive; image 1: pixel a logits (2, 0) -> argmax 0,
    # CE = log(1 + e^-2); pixel b logits (0, 1) -> argmax 1, CE = log(1 + e^-1); pixel c invalid.
    logits = torch.tensor(
        [
            [[[9.0, 9.0, 9.0]], [[-9.0, -9.0, -9.0]]],
            [[[2.0, 0.0, 5.0]], [[0.0, 1.0, -5.0]]],
        ]
    )
    selected = torch.tensor([False, True])
    valid = torch.tensor([[[True, True, True]], [[True, True, False]]])
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert self_training_loss(logits, selected, valid).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (16, 16)])
def test_discriminator_shapes_range_and_layout(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    discriminator = Discriminator(in_channels=5).eval()
    output = discriminator(torch.rand(3, 5, *size))
    assert output.logit.shape == (3,) and output.features.shape == (3, 512)
    assert ((output.score > 0) & (output.score < 1)).all()
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    dropouts = [m for m in discriminator.modules() if isinstance(m, torch.nn.Dropout2d)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)
    slopes = [
        m.negative_slope for m in discriminator.modules() if isinstance(m, torch.nn.LeakyReLU)
    ]
    assert slopes == [0.2] * 4


def test_discriminator_loss_hand_value() -> None:
    # sigmoid(0) = 0.5 on both sides: BCE = ln 2 each; a confident right answer costs ~0
    zero = torch.zeros(2)
    assert discriminator_loss(zero, zero).item() == pytest.approx(math.log(2))
    assert discriminator_loss(torch.full((2,), -30.0), torch.full((2,), 30.0)).item() < 1e-10


# ---- UniMatch ----------------------------------------------------------------------------------


def test_pseudo_label_loss_ignores_pixels_under_the_threshold() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [2, 0]]])
    confidence = torch.tensor([[[0.99, 0.5], [0.96, 0.95]]])
    valid = torch.tensor([[[True, True], [True, False]]])
    loss = pseudo_label_loss(logits, labels, confidence, valid, threshold=0.95)
    changed = logits.clone()
    changed[0, :, 0, 1] = torch.tensor([-7.0, 3.0, 11.0])  # under the threshold
    changed[0, :, 1, 1] = torch.tensor([5.0, -2.0, 0.0])  # confident but padded
    assert pseudo_label_loss(changed, labels, confidence, valid, 0.95).item() == loss.item()
    log_p = logits.log_softmax(dim=1)[0]
    expected = -(log_p[0, 0, 0] + log_p[2, 1, 0]) / 3  # two kept pixels over three valid ones
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_masked_cross_entropy_counts_ignored_labels_as_zero() -> None:
    logits = torch.zeros(1, 2, 1, 2)  # CE = ln 2 everywhere
    labels = torch.tensor([[[1, 255]]])
    kept = torch.tensor([[[True, True]]])
    value = masked_cross_entropy(logits, labels, kept, kept)
    assert value.item() == pytest.approx(math.log(2) / 2)


def test_cutmix_boxes_are_seeded_rectangles_within_the_area_range() -> None:
    rng = np.random.default_rng(3)
    boxes = cutmix_boxes(50, (32, 48), rng, 1.0, (0.02, 0.4), (0.3, 1 / 0.3))
    again = cutmix_boxes(50, (32, 48), np.random.default_rng(3), 1.0, (0.02, 0.4), (0.3, 1 / 0.3))
    assert torch.equal(boxes, again)
    for box in boxes:
        rows = torch.nonzero(box.any(dim=1)).flatten()
        cols = torch.nonzero(box.any(dim=0)).flatten()
        height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert box.sum().item() == height * width  # one filled rectangle
        assert 0.01 <= box.float().mean().item() <= 0.45
    assert not cutmix_boxes(10, (8, 8), rng, 0.0, (0.02, 0.4), (0.3, 3.0)).any()


def test_mix_takes_the_other_batch_inside_the_box() -> None:
    box = torch.tensor([[[True, False], [False, False]]])
    images = mix(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), box)
    assert torch.equal(images, box[:, None].expand(1, 3, 2, 2).float())
    labels = mix(torch.tensor([[[1, 1], [1, 1]]]), torch.tensor([[[7, 8], [9, 6]]]), box)
    assert labels.tolist() == [[[7, 1], [1, 1]]]


def test_strong_colour_identity_without_chances_and_grayscale_hand_value() -> None:
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    off = UniMatchParams(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0)
    assert torch.equal(strong_colour(images, np.random.default_rng(0), off), images)
    gray = UniMatchParams(jitter_prob=0.0, grayscale_prob=1.0, blur_prob=0.0)
    out = strong_colour(images, np.random.default_rng(0), gray)
    luma = 0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    for channel in range(3):
        torch.testing.assert_close(out[:, channel], luma, atol=1e-3, rtol=0)


def test_strong_colour_is_seeded_and_stays_in_range() -> None:
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    params = UniMatchParams()
    first = strong_colour(images, np.random.default_rng(5), params)
    assert torch.equal(first, strong_colour(images, np.random.default_rng(5), params))
    assert not torch.equal(first, strong_colour(images, np.random.default_rng(6), params))
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 1


def test_gaussian_blur_keeps_constants_and_fits_tiny_images() -> None:
    constant = torch.full((3, 3, 3), 0.25)
    torch.testing.assert_close(gaussian_blur(constant, 2.0), constant)


def test_perturbed_features_drop_whole_channels_but_not_the_input_map() -> None:
    torch.manual_seed(0)
    features = [torch.ones(2, 3, 4, 4), torch.ones(2, 64, 4, 4), torch.ones(2, 64, 2, 2)]
    out = perturbed_features(features, 0.5)
    assert torch.equal(out[0], features[0])
    for dropped in out[1:]:
        per_channel = dropped.flatten(2)
        assert set(per_channel.unique().tolist()) == {0.0, 2.0}
        assert (per_channel.amin(dim=2) == per_channel.amax(dim=2)).all()


# ---- U2PL --------------------------------------------------------------------------------------


def test_reliable_mask_drops_the_highest_entropy_share() -> None:
    shuffle = torch.randperm(10, generator=torch.Generator().manual_seed(0))
    values = torch.arange(100.0).reshape(1, 10, 10)[:, shuffle]
    valid = torch.ones(1, 10, 10, dtype=torch.bool)
    kept = reliable_mask(values, valid, 20.0)
    assert kept.sum().item() == 80 and values[kept].max().item() == 79
    assert reliable_mask(values, valid, 0.0).all()
    valid[0, 0] = False
    assert not reliable_mask(values, valid, 20.0)[0, 0].any()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 5, allow_nan=False), min_size=2, max_size=60),
    st.floats(0.5, 60.0),
)
def test_reliable_mask_matches_numpy_percentile(values: list[float], percent: float) -> None:
    tensor = torch.tensor(values, dtype=torch.float64)
    valid = torch.ones_like(tensor, dtype=torch.bool)
    cut = np.percentile(np.asarray(values), 100.0 - percent)
    expected = np.asarray(values) <= cut + 1e-9
    kept = reliable_mask(tensor, valid, percent).numpy()
    near_cut = np.isclose(np.asarray(values), cut, atol=1e-6)
    assert np.array_equal(kept[~near_cut], expected[~near_cut])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=50),
    st.floats(0.0, 100.0),
)
def test_percentile_matches_numpy(values: list[float], percent: float) -> None:
    expected = np.percentile(np.asarray(values, dtype=np.float32), percent)
    value = percentile(torch.tensor(values), percent).item()
    assert value == pytest.approx(expected, rel=1e-5, abs=1e-3)


def test_entropy_extremes_take_the_share_at_both_ends() -> None:
    values = torch.arange(100.0)
    low, high = entropy_extremes(values, torch.ones(100, dtype=torch.bool), 20.0)
    assert values[low].tolist() == list(range(20))
    assert values[high].tolist() == list(range(80, 100))


def test_decayed_percent_and_ema_decay_schedules() -> None:
    assert decayed_percent(20.0, 0.0) == 20.0 and decayed_percent(20.0, 0.75) == pytest.approx(5.0)
    assert [ema_decay(k, 0.99) for k in (0, 1, 3)] == [0.0, 0.5, 0.75]
    assert ema_decay(10_000, 0.99) == 0.99


def test_ema_update_hand_value() -> None:
    teacher, student = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        teacher.weight.fill_(1.0)
        student.weight.fill_(3.0)
        teacher.running_mean.fill_(0.0)
        student.running_mean.fill_(10.0)
    student.num_batches_tracked.fill_(7)
    ema_update(teacher, student, 0.99)
    torch.testing.assert_close(teacher.weight.data, torch.full((2,), 1.02))
    torch.testing.assert_close(teacher.running_mean, torch.full((2,), 0.1))
    assert teacher.num_batches_tracked.item() == 7
    ema_update(teacher, student, 0.0)
    assert torch.equal(teacher.weight.data, student.weight.data)


def test_info_nce_two_sample_hand_value() -> None:
    # anchor (1,0), positive (1,0), negative (0,1), T = 0.5: logits (2, 0) -> log(1 + e^-2)
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    positives = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    negatives = torch.tensor([[[0.0, 1.0]], [[0.0, 3.0]]])
    first = math.log(1 + math.exp(-2))  # second anchor: logits (0, 2) -> log(1 + e^2)
    second = math.log(1 + math.exp(2))
    value = info_nce(anchors, positives, negatives, 0.5).item()
    assert value == pytest.approx((first + second) / 2, rel=1e-6)
    assert info_nce(anchors[:1], positives[:1], negatives[:1], 0.5).item() == pytest.approx(first)


def test_class_queues_keep_the_latest_features() -> None:
    queues = ClassQueues(num_classes=2, length=3)
    queues.push(0, torch.tensor([[1.0], [2.0]]))
    queues.push(0, torch.tensor([[3.0], [4.0]]))
    queues.push(1, torch.zeros(0, 1))
    assert queues.get(0).flatten().tolist() == [2.0, 3.0, 4.0]
    assert queues.get(1) is None


def test_negative_masks_follow_the_rank_rules() -> None:
    params = U2PLParams(low_rank=2, high_rank=3)
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]] * 4)
    labels = torch.tensor([0, 0, 0, 255])
    labeled = torch.tensor([True, False, False, True])
    unreliable = torch.tensor([True, True, False, True])
    masks = negative_masks(labels, probs, labeled, unreliable, params)
    assert masks.tolist() == [
        [False, True, False, False],  # labeled: not the label, among the top 2
        [False, False, True, False],  # unreliable unlabeled: rank in [2, 3)
        [False, False, False, False],  # reliable unlabeled
        [False, False, False, False],  # ignored label
    ]


def test_contrastive_loss_hand_value_and_fewer_than_two_classes() -> None:
    params = U2PLParams(num_queries=4, num_negatives=3, temperature=0.5)
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    reliable = torch.ones(4, dtype=torch.bool)
    negatives = torch.stack([labels == 1, labels == 0], dim=1)  # the other class's pixels
    queues = ClassQueues(2, 100)
    value = contrastive_loss(
        features,
        features,
        labels,
        probs,
        reliable,
        negatives,
        queues,
        params,
        torch.Generator().manual_seed(0),
    )
    # every anchor: positive similarity 1, three negatives with similarity 0, T = 0.5
    expected = math.log(math.exp(2) + 3) - 2
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert len(queues.get(0)) == 2 and len(queues.get(1)) == 2
    single = contrastive_loss(
        features,
        features,
        torch.zeros(4, dtype=torch.long),
        probs,
        reliable,
        negatives,
        ClassQueues(2, 100),
        params,
        torch.Generator().manual_seed(0),
    )
    assert single.item() == 0.0


def test_grid_nearest_reads_cell_centres() -> None:
    maps = torch.arange(16).reshape(1, 4, 4)
    assert grid_nearest(maps, (2, 2), 2).tolist() == [[[5, 7], [13, 15]]]
    small = torch.arange(9).reshape(1, 3, 3)  # second centre (3) clamps to the last row/column
    assert grid_nearest(small, (2, 2), 2).tolist() == [[[4, 5], [7, 8]]]


def test_entropy_hand_values() -> None:
    probs = torch.tensor([[[[0.5]], [[0.5]]], [[[1.0]], [[0.0]]]])
    torch.testing.assert_close(entropy(probs).flatten(), torch.tensor([math.log(2), 0.0]))


# ---- data and parameters -----------------------------------------------------------------------


def test_mask_free_view_keeps_images_and_drops_labels() -> None:
    dataset = BlobDataset(1, 2)
    view = MaskFreeView(dataset)
    assert len(view) == 2 and view.class_names == dataset.class_names
    assert np.array_equal(view[1].image, dataset[1].image)
    assert not view[1].mask.any() and dataset[1].mask.any()


def test_params_defaults_are_the_published_values() -> None:
    s4gan = validate(S4GANParams, {})
    assert (s4gan.lambda_fm, s4gan.lambda_st, s4gan.st_threshold) == (0.1, 1.0, 0.6)
    assert (s4gan.d_lr, s4gan.d_betas, s4gan.d_channels) == (1e-4, (0.9, 0.99), 64)
    unimatch = validate(UniMatchParams, {})
    assert (unimatch.confidence, unimatch.weight_strong, unimatch.weight_fp) == (0.95, 0.25, 0.5)
    assert unimatch.fp_dropout == 0.5
    u2pl = validate(U2PLParams, {})
    assert (u2pl.ema_decay, u2pl.temperature, u2pl.unreliable_percent) == (0.99, 0.5, 20.0)
    assert isinstance(validate(U2PLParams, {"temperature": 0.1}), U2PLParams)
    assert isinstance(validate(S4GANParams, {"d_betas": [0.5, 0.9]}), S4GANParams)


@pytest.mark.parametrize(
    ("params", "options", "message"),
    [
        (
            U2PLParams,
            {"temprature": 0.5},
            r"unknown u2pl option 'temprature'; allowed: .*temperature",
        ),
        (U2PLParams, {"temperature": 0}, r"u2pl option temperature = 0: .*greater than 0"),
        (S4GANParams, {"st_threshold": 1.5}, r"s4gan option st_threshold = 1.5"),
        (S4GANParams, {"d_betas": [0.9, 1.0]}, r"d_betas"),
        (UniMatchParams, {"confidence": "high"}, r"unimatch option confidence = 'high'"),
        (UniMatchParams, {"cutmix_area": [0.5, 0.1]}, r"cutmix_area"),
        (U2PLParams, {"low_rank": 4, "high_rank": 3}, r"high_rank 3 must exceed low_rank 4"),
    ],
)
def test_params_errors_are_one_line_and_name_the_value(params, options, message) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        validate(params, options)
    assert "\n" not in str(error.value)


def test_params_are_frozen() -> None:
    params = validate(UniMatchParams, {})
    with pytest.raises(ValidationError):
        params.confidence = 0.5  # type: ignore[misc]


def test_u2pl_unsupervised_loss_uses_the_originals_normalisation():
    """Mean CE over the kept pixels x (all pixels / kept pixels), checked by hand."""
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0])
    labels = torch.tensor([[[0, 0, 1, 255]]])
    kept = torch.tensor([[[True, True, False, False]]])
    per_pixel = [math.log(2.0), math.log(1 + math.exp(-1.0))]  # CE of class 0 at pixels 0, 1
    expected = sum(per_pixel) / 2 * (4 / 2)
    assert unsupervised_loss(logits, labels, kept).item() == pytest.approx(expected)
    assert unsupervised_loss(logits, labels, torch.zeros_like(kept)).item() == 0.0
