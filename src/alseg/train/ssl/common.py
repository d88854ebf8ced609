"""Pieces the semi-supervised trainers share: batch streams, strong colour views, CutMix, masks.

Unlabeled images reach the trainers through ``MaskFreeView``: their labels are replaced by zeros
*before* augmentation, so the only thing an unlabeled "mask" can tell is where the augmentation
padded the crop (``IGNORE_INDEX``). No trainer can use unlabeled labels, by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from alseg.config import TrainConfig
from alseg.data.base import IGNORE_INDEX, FrameMeta, Sample, SegDataset
from alseg.models import SegmentationModel
from alseg.train.common import Timer, endless_batches, make_optimizer, prepare, to_device
from alseg.train.request import FitRequest, FitResult, StepCallback
from alseg.train.ssl.params import UniMatchParams

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]

#: Independent random streams of one run, derived from its seed.
UNLABELED_STREAM, MIX_STREAM, AUGMENT_STREAM, SAMPLING_STREAM = 1, 2, 3, 4


class MaskFreeView(SegDataset):
    """``dataset`` with every mask set to 0: labels of unlabeled images never leave it."""

    def __init__(self, dataset: SegDataset) -> None:
        self.dataset = dataset
        self.name = dataset.name
        self.class_names = dataset.class_names

    def __len__(self) -> int:
        return len(self.dataset)

    def meta(self, index: int) -> FrameMeta:
        return self.dataset.meta(index)

    def load(self, index: int) -> Sample:
        sample = self.dataset[index]
        return Sample(sample.image, np.zeros(sample.image.shape[:2], np.int64), sample.meta)


def stream_rng(seed: int, stream: int) -> np.random.Generator:
    """The numpy generator of one named random stream of a run."""
    return np.random.default_rng([seed, stream])


def unlabeled_batches(
    unlabeled: SegDataset, train: TrainConfig, seed: int, stream: int = UNLABELED_STREAM
) -> Batches:
    """Endless augmented (images, valid-pixel masks) batches of unlabeled images."""
    return endless_batches(MaskFreeView(unlabeled), train, stream_rng(seed, stream))


@dataclass
class SSLRun:
    """State every SSL trainer starts from: iteration count, SGD, batch streams, clock."""

    total: int
    optimizer: torch.optim.SGD
    labeled: Batches
    unlabeled: Batches
    timer: Timer

    def next_labeled(
        self, device: torch.device, train: TrainConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Labeled images and masks on ``device``."""
        return to_device(*next(self.labeled), device, train.channels_last)

    def next_unlabeled(
        self, device: torch.device, train: TrainConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unlabeled images and their valid-pixel mask (False where augmentation padded)."""
        images, masks = to_device(*next(self.unlabeled), device, train.channels_last)
        return images, masks != IGNORE_INDEX


def start_run(request: FitRequest) -> SSLRun:
    """Seed torch, build SGD, move the model, open the streams (labeled ones as in supervised)."""
    train, seed = request.train, request.seed
    timer = Timer()
    torch.manual_seed(seed)
    optimizer = make_optimizer(request.model, train)
    prepare(request.model, train, request.device)
    return SSLRun(
        total=train.iterations(len(request.labeled)),
        optimizer=optimizer,
        labeled=endless_batches(request.labeled, train, np.random.default_rng(seed)),
        unlabeled=unlabeled_batches(unlabeled_images(request), train, seed),
        timer=timer,
    )


def unlabeled_images(request: FitRequest) -> SegDataset:
    """The unlabeled images of a semi-supervised ``request``; ``fit`` never sends it none."""
    if request.unlabeled is None:
        raise ValueError(f"SSL method {request.ssl.method!r} needs unlabeled images")
    return request.unlabeled


def report_step(
    on_step: StepCallback | None, iteration: int, total: int, losses: dict[str, float]
) -> None:
    if on_step is not None:
        on_step(iteration + 1, total, losses["total"])


def finish_run(model: SegmentationModel, run: SSLRun, losses: dict[str, float]) -> FitResult:
    model.eval()
    return FitResult(run.total, run.timer.seconds(), losses["total"], losses)


def as_format(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def strong_colour(
    images: torch.Tensor, rng: np.random.Generator, params: UniMatchParams
) -> torch.Tensor:
    """Per image: colour jitter (random order), grayscale, Gaussian blur, each with its chance."""
    views = []
    for image in images:
        if rng.random() < params.jitter_prob:
            image = colour_jitter(image, rng, params)
        if rng.random() < params.grayscale_prob:
            image = TF.rgb_to_grayscale(image, num_output_channels=3)
        if rng.random() < params.blur_prob:
            image = gaussian_blur(image, float(rng.uniform(*params.blur_sigma)))
        views.append(image)
    return torch.stack(views)


def colour_jitter(
    image: torch.Tensor, rng: np.random.Generator, params: UniMatchParams
) -> torch.Tensor:
    """Brightness, contrast, saturation and hue of one (3, H, W) image in [0, 1], random order."""
    for operation in rng.permutation(4):
        if operation == 0:
            image = TF.adjust_brightness(image, _factor(rng, params.brightness))
        elif operation == 1:
            image = TF.adjust_contrast(image, _factor(rng, params.contrast))
        elif operation == 2:
            image = TF.adjust_saturation(image, _factor(rng, params.saturation))
        else:
            image = TF.adjust_hue(image, float(rng.uniform(-params.hue, params.hue)))
    return image


def _factor(rng: np.random.Generator, strength: float) -> float:
    return float(rng.uniform(max(0.0, 1.0 - strength), 1.0 + strength))


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur with a kernel of 2*ceil(3 sigma)+1 pixels (capped so reflection padding fits)."""
    largest = 2 * min(image.shape[-2:]) - 1
    size = min(2 * math.ceil(3 * sigma) + 1, largest if largest % 2 else largest - 1)
    return TF.gaussian_blur(image, [size, size], [sigma, sigma])


def cutmix_boxes(
    batch: int,
    size: tuple[int, int],
    rng: np.random.Generator,
    prob: float,
    area: tuple[float, float],
    ratio: tuple[float, float],
) -> torch.Tensor:
    """(B, H, W) bool: per image, with chance ``prob``, one box of random area and h/w ratio."""
    height, width = size
    boxes = torch.zeros((batch, height, width), dtype=torch.bool)
    for i in range(batch):
        if rng.random() >= prob:
            continue
        pixels = rng.uniform(*area) * height * width
        aspect = rng.uniform(*ratio)
        box_h = min(height, max(1, round(math.sqrt(pixels * aspect))))
        box_w = min(width, max(1, round(math.sqrt(pixels / aspect))))
        top = int(rng.integers(0, height - box_h + 1))
        left = int(rng.integers(0, width - box_w + 1))
        boxes[i, top : top + box_h, left : left + box_w] = True
    return boxes


def mix(base: torch.Tensor, other: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``other`` inside the (B, H, W) ``boxes``, ``base`` elsewhere (images or per-pixel maps)."""
    inside = boxes.to(base.device)
    if base.dim() == 4:
        inside = inside[:, None]
    return torch.where(inside, other, base)


def pseudo_labels(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(confidence, hard label) per pixel from logits (B, C, H, W), without gradient."""
    confidence, labels = logits.detach().softmax(dim=1).max(dim=1)
    return confidence, labels


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy (nats) of probabilities (B, C, H, W) -> (B, H, W)."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)


def masked_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, kept: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Per-pixel cross-entropy summed over ``kept`` pixels, divided by the number of ``valid`` ones
    (labels of 255 count 0)."""
    per_pixel = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    return (per_pixel * kept).sum() / valid.sum().clamp_min(1)
