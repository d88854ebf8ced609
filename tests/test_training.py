import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alseg.config import TrainConfig
from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.transforms import TrainView, augment
from alseg.models import build_model
from alseg.train.common import labeled_loss, make_optimizer, poly_lr


def test_iterations_are_epochs_times_labeled_over_batch_with_a_floor():
    train = TrainConfig(epochs=10, batch_size=8, min_iterations=100)
    assert train.iterations(200) == 250
    assert train.iterations(40) == 100


def test_poly_schedule_and_learning_rate_groups():
    model = build_model(3, weights="none")
    optimizer = make_optimizer(model, TrainConfig(lr_backbone=1e-3, lr_head=1e-2))
    poly_lr(optimizer, 50, 100, 0.9)
    factor = 0.5**0.9
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [1e-3 * factor, 1e-2 * factor]
    )


def test_labeled_loss_is_the_mean_over_labeled_pixels_and_zero_without_any():
    logits = torch.randn(2, 4, 5, 6)
    masks = torch.randint(0, 4, (2, 5, 6))
    masks[0, :2] = 255
    expected = F.cross_entropy(logits, masks, ignore_index=255)
    assert labeled_loss(logits, masks) == pytest.approx(float(expected))
    void = torch.full((2, 5, 6), 255)
    assert float(labeled_loss(logits, void)) == 0.0


class MixedSizes(SegDataset):
    """Three images of different sizes, like PASCAL-VOC."""

    class_names = ("a", "b")
    sizes = ((20, 30), (12, 40), (26, 18))

    def __len__(self) -> int:
        return len(self.sizes)

    def meta(self, index: int) -> FrameMeta:
        return FrameMeta("s", index)

    def load(self, index: int) -> Sample:
        h, w = self.sizes[index]
        mask = np.ones((h, w), dtype=np.int64)
        return Sample(np.full((h, w, 3), 200, np.uint8), mask, self.meta(index))


def test_images_of_different_sizes_share_the_first_images_crop():
    view = TrainView(MixedSizes(), None, (0.5, 1.5), hflip=True)
    shapes = {tuple(view[(i, seed)][0].shape) for i in range(3) for seed in range(5)}
    assert shapes == {(3, 20, 30)}


def test_augment_pads_images_with_zero_and_masks_with_ignore():
    image = torch.ones(3, 4, 4)
    mask = torch.zeros(4, 4, dtype=torch.long)
    out_image, out_mask = augment(image, mask, np.random.default_rng(0), (8, 8), (1.0, 1.0), False)
    assert out_image.shape == (3, 8, 8) and out_mask.shape == (8, 8)
    assert int((out_mask == 0).sum()) == 16 and int((out_mask == 255).sum()) == 48
    assert float(out_image.sum()) == 3 * 16
