"""Torch views of a SegDataset: random scale/crop/flip for training, plain tensors for evaluation.

Augmentation randomness is drawn from a per-draw seed chosen by the sampler in the main process, so
results do not depend on the number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from alseg.data.base import IGNORE_INDEX, SegDataset
from alseg.errors import clean_worker_errors


def to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 HxWx3 and int HxW arrays -> float (3, H, W) in [0, 1] and int64 (H, W)."""
    img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    return img, torch.from_numpy(np.ascontiguousarray(mask)).long()


def augment(
    image: torch.Tensor,
    mask: torch.Tensor,
    rng: np.random.Generator,
    crop: tuple[int, int],
    scale_range: tuple[float, float],
    hflip: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale (bilinear image, nearest mask), random crop padded with 0/ignore, flip."""
    scale = rng.uniform(*scale_range)
    h, w = image.shape[-2:]
    new_size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new_size != (h, w):
        image = F.interpolate(image[None], size=new_size, mode="bilinear", align_corners=False)[0]
        mask = F.interpolate(mask[None, None].float(), size=new_size, mode="nearest")[0, 0].long()
    crop_h, crop_w = crop
    pad_h, pad_w = max(0, crop_h - new_size[0]), max(0, crop_w - new_size[1])
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
        mask = F.pad(mask, (0, pad_w, 0, pad_h), value=IGNORE_INDEX)
    top = int(rng.integers(0, image.shape[-2] - crop_h + 1))
    left = int(rng.integers(0, image.shape[-1] - crop_w + 1))
    image = image[:, top : top + crop_h, left : left + crop_w]
    mask = mask[top : top + crop_h, left : left + crop_w]
    if hflip and rng.random() < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    return image.contiguous(), mask.contiguous()


class TrainView(Dataset):
    """Keys are ``(dataset index, augmentation seed)`` pairs drawn by ``epoch_keys``."""

    def __init__(
        self,
        dataset: SegDataset,
        crop: tuple[int, int] | None,
        scale_range: tuple[float, float],
        hflip: bool,
    ) -> None:
        self.dataset = dataset
        # Without a crop size, every batch uses the first image's size (others padded or cropped),
        # so datasets whose images differ in size still stack into batches.
        self.crop = crop or tuple(dataset[0].image.shape[:2])
        self.scale_range = scale_range
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key
        sample = self.dataset[index]
        image, mask = to_tensors(sample.image, sample.mask)
        rng = np.random.default_rng(seed)
        return augment(image, mask, rng, self.crop, self.scale_range, self.hflip)


def batch_keys(
    size: int, batch_size: int, rng: np.random.Generator
) -> Iterator[list[tuple[int, int]]]:
    """Endless batches of (index, augmentation seed): seeded epochs over ``size`` items."""
    while True:
        order = rng.permutation(size)
        seeds = rng.integers(0, 2**31 - 1, size=size)
        if size < batch_size:  # tiny labeled sets: repeat within the batch
            order = rng.choice(size, batch_size)
            seeds = rng.integers(0, 2**31 - 1, size=batch_size)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [(int(order[j]), int(seeds[j])) for j in range(start, start + batch_size)]


class EvalView(Dataset):
    """Deterministic full images as tensors, with their dataset position."""

    def __init__(self, dataset: SegDataset, indices: np.ndarray | None = None) -> None:
        self.dataset = dataset
        self.indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        sample = self.dataset[int(self.indices[position])]
        image, mask = to_tensors(sample.image, sample.mask)
        return image, mask, position


def same_size_batches(
    samples: Iterator[tuple[torch.Tensor, torch.Tensor, int]], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Stack consecutive samples of equal size into batches (a new size starts a new batch)."""
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    positions: list[int] = []
    for image, mask, position in samples:
        if images and (image.shape != images[0].shape or len(images) == batch_size):
            yield torch.stack(images), torch.stack(masks), torch.tensor(positions)
            images, masks, positions = [], [], []
        images.append(image)
        masks.append(mask)
        positions.append(int(position))
    if images:
        yield torch.stack(images), torch.stack(masks), torch.tensor(positions)


def eval_batches(
    dataset: SegDataset, indices: np.ndarray | None, batch_size: int, workers: int = 0
) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(images, masks, positions) batches of equal-size images, in a deterministic order."""
    view = EvalView(dataset, indices)
    loader = torch.utils.data.DataLoader(view, batch_size=None, num_workers=workers)
    return same_size_batches(clean_worker_errors(loader), batch_size)
