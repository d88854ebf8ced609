import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassJaccardIndex

from alseg.metrics import ConfusionMatrix, auc_at_budget


def test_hand_computed_two_class_case():
    target = np.array([0, 0, 1, 1, 255])
    pred = np.array([0, 1, 1, 1, 0])
    cm = ConfusionMatrix(2)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 1], [0, 2]]
    # class 0: TP 1, FP 0, FN 1 -> 1/2; class 1: TP 2, FP 1, FN 0 -> 2/3
    assert cm.iou() == pytest.approx([0.5, 2 / 3])
    assert cm.miou() == pytest.approx((0.5 + 2 / 3) / 2)


def test_absent_modes():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 1]), np.array([0, 0, 0]))  # class 1 only predicted, class 2 nowhere
    assert np.isnan(cm.iou()[2])
    assert cm.miou("nan") == pytest.approx((2 / 3 + 0.0) / 2)
    assert cm.miou("zero") == pytest.approx((2 / 3 + 0.0 + 0.0) / 3)
    with pytest.raises(ValueError, match="absent mode 'other'"):
        cm.miou("other")
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        ConfusionMatrix(0)


def test_mean_restricted_to_the_classes_a_dataset_contains():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 2]), np.array([0, 0, 1]))  # class 2 predicted but never present
    assert cm.miou() == pytest.approx((1.0 + 0.0 + 0.0) / 3)
    assert cm.miou(classes=[0, 1]) == pytest.approx((1.0 + 0.0) / 2)
    assert cm.miou("zero", classes=[0]) == pytest.approx(1.0)


def test_out_of_range_ids_are_rejected():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError, match="target class ids"):
        cm.update(np.array([0]), np.array([5]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), classes=st.integers(2, 6))
def test_matches_torchmetrics(seed, classes):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, size=(2, 9, 7))
    target[rng.random(target.shape) < 0.2] = 255
    pred = rng.integers(0, classes, size=target.shape)
    cm = ConfusionMatrix(classes)
    cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    reference = MulticlassConfusionMatrix(classes, ignore_index=255)(
        torch.from_numpy(pred), torch.from_numpy(target)
    )
    assert np.array_equal(cm.matrix, reference.numpy())
    jaccard = MulticlassJaccardIndex(classes, average=None, ignore_index=255, zero_division=0)(
        torch.from_numpy(pred), torch.from_numpy(target)
    )
    assert np.allclose(np.nan_to_num(cm.iou()), jaccard.numpy(), atol=1e-6)
    assert cm.miou("zero") == pytest.approx(float(jaccard.mean()), abs=1e-6)


def test_auc_reference_rows_from_the_spec():
    assert auc_at_budget([0.02, 0.10], [77.0, 77.0]) == pytest.approx(6.16)
    assert auc_at_budget([0.1, 0.2, 0.3, 0.4, 0.5], [77.0] * 5) == pytest.approx(30.8)


def test_auc_trapezoid_by_hand():
    # (0.1 * (10 + 20) / 2) + (0.1 * (20 + 40) / 2) = 1.5 + 3.0
    assert auc_at_budget([0.1, 0.2, 0.3], [10, 20, 40]) == pytest.approx(4.5)
    assert auc_at_budget([0.1], [50]) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=8))
def test_auc_matches_numpy_trapezoid(values):
    x = np.linspace(0.1, 0.5, len(values))
    assert math.isclose(auc_at_budget(x, values), np.trapezoid(values, x), abs_tol=1e-9)


def test_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="must not decrease"):
        auc_at_budget([0.2, 0.1], [1, 2])
    with pytest.raises(ValueError, match="equal-length"):
        auc_at_budget([0.1, 0.2], [1])
