"""Per-image embeddings of a dataset and the time structure of its frames, for ``alseg.advise``.

Without a trained model the embeddings come from DeepLabv3+ with an ImageNet-pretrained encoder
and a seeded, untrained head: the 2x2-pooled ASPP projection (1024-d), the same feature Coreset
uses. The untrained ASPP is a fixed random projection of the pretrained encoder features.

The one near-duplicate radius (``alseg.neighbours.NEAR_DUPLICATE_FRACTION`` = 0.5 x the typical
distance) was calibrated on these features; ``alseg.neighbours`` gives the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from alseg.acquisition.inference import infer_pool
from alseg.advise import RedundancyReport, redundancy_index
from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.temporal import ranks_in
from alseg.devices import resolve_device
from alseg.errors import ConfigError
from alseg.models import SegmentationModel, build_model
from alseg.models.deeplab import DEFAULT_ENCODER
from alseg.neighbours import NEAR_DUPLICATE_FRACTION

ProgressCallback = Callable[[int, int], None]


class ResizedDataset(SegDataset):
    """``base`` with every image resized to ``size`` (H, W): bilinear images, nearest masks."""

    def __init__(self, base: SegDataset, size: tuple[int, int]) -> None:
        height, width = size
        if height < 1 or width < 1:
            raise ConfigError(f"image size must be positive, got {height}x{width}")
        self.base = base
        self.size = (int(height), int(width))
        self.name = base.name
        self.class_names = base.class_names
        self.class_colors = base.class_colors

    def __len__(self) -> int:
        return len(self.base)

    def meta(self, index: int) -> FrameMeta:
        return self.base.meta(index)

    def load(self, index: int) -> Sample:
        sample = self.base.load(index)
        height, width = self.size
        if sample.image.shape[:2] == self.size:
            return sample
        image = Image.fromarray(sample.image).resize((width, height), Image.Resampling.BILINEAR)
        rows = ((2 * np.arange(height) + 1) * sample.mask.shape[0]) // (2 * height)
        cols = ((2 * np.arange(width) + 1) * sample.mask.shape[1]) // (2 * width)
        mask = sample.mask[rows[:, None], cols[None, :]]
        return replace(sample, image=np.array(image), mask=np.ascontiguousarray(mask))


def resized(dataset: SegDataset, size: tuple[int, int] | None) -> SegDataset:
    """``dataset`` at ``size`` (H, W), or unchanged when ``size`` is None."""
    return dataset if size is None else ResizedDataset(dataset, size)


def imagenet_model(
    num_classes: int, encoder: str = DEFAULT_ENCODER, seed: int = 0
) -> SegmentationModel:
    """DeepLabv3+ with ImageNet encoder weights and a head drawn from ``seed`` (global RNG kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(max(1, num_classes), encoder=encoder, weights="imagenet")


def pool_embeddings(
    dataset: SegDataset,
    model: SegmentationModel | None = None,
    device: torch.device | str = "auto",
    batch_size: int = 32,
    image_size: tuple[int, int] | None = None,
    *,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 0,
    on_batch: ProgressCallback | None = None,
) -> np.ndarray:
    """N x 1024 float32 embeddings (2x2-pooled ASPP projection) of every image of ``dataset``
    on ``device`` ("auto", "cpu", "cuda" or a torch device).

    ``model`` defaults to ``imagenet_model`` (ImageNet encoder, seeded head). ``image_size``
    (H, W) resizes every image first, so images of different sizes share batches; without it
    images keep their size and a batch ends where the size changes.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if model is None:
        model = imagenet_model(dataset.num_classes, encoder, seed)
    view = resized(dataset, image_size)
    results = infer_pool(
        model,
        view,
        np.arange(len(view)),
        {"embedding"},
        resolve_device(device) if isinstance(device, str) else device,
        batch_size=batch_size,
        on_batch=on_batch,
    )
    return results["embedding"]


def _reference(dataset: SegDataset) -> SegDataset:
    """The dataset whose frames define positions: the innermost ``base`` of pool/subset views."""
    while isinstance(getattr(dataset, "base", None), SegDataset):
        dataset = dataset.base
    return dataset


def sequence_positions(dataset: SegDataset) -> tuple[list[str], list[int]]:
    """Sequence of every image and its position among the frames of that sequence in the
    underlying dataset (the ``base`` of a pool or subset), so that frames adjacent in the data
    are 1 apart however sparse the raw frame numbers are. Augmented copies share the position of
    their original."""
    metas = [dataset.meta(i) for i in range(len(dataset))]
    reference = _reference(dataset)
    if reference is dataset:
        all_metas = metas
    else:
        all_metas = [reference.meta(i) for i in range(len(reference))]
    sequences = [m.sequence for m in metas]
    positions = ranks_in(
        sequences,
        [m.frame for m in metas],
        [m.sequence for m in all_metas],
        [m.frame for m in all_metas],
    )
    return sequences, positions.tolist()


def has_time_structure(sequences: list[str]) -> bool:
    """True when some sequence holds two or more images (file names like ``{seq}_{frame}``)."""
    return len(set(sequences)) < len(sequences)


def dataset_redundancy(
    dataset: SegDataset,
    embeddings: np.ndarray,
    *,
    near_duplicate_fraction: float = NEAR_DUPLICATE_FRACTION,
    temporal_window: int = 1,
    seed: int = 0,
) -> RedundancyReport:
    """The redundancy index of ``dataset`` from its embeddings and, when its images form
    sequences (some sequence holds several images), their positions in time."""
    sequences, positions = sequence_positions(dataset)
    if not has_time_structure(sequences):
        return redundancy_index(
            embeddings, near_duplicate_fraction=near_duplicate_fraction, seed=seed
        )
    return redundancy_index(
        embeddings,
        sequences,
        positions,
        near_duplicate_fraction=near_duplicate_fraction,
        temporal_window=temporal_window,
        seed=seed,
    )
