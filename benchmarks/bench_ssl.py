"""Seconds per training iteration of each SSL trainer, relative to supervised training.

Every method trains a fresh DeepLabv3+ (efficientnet_lite0, random weights: speed does not depend
on them) on the same labeled half of the images with the other half unlabeled; images are
generated before timing and the first ``--warmup`` iterations are not timed. Data: synthdrive
at ``--image-size``, or the test blobs (square, of side H).

    python benchmarks/bench_ssl.py                                   # synthdrive 64x128, batch 4
    python benchmarks/bench_ssl.py --image-size 256 512 --batch 8 --iterations 20 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alseg.config import SSLConfig, TrainConfig  # noqa: E402
from alseg.data.base import FrameMeta, Sample, SegDataset, SubsetDataset  # noqa: E402
from alseg.devices import resolve_device  # noqa: E402
from alseg.models import build_model  # noqa: E402
from alseg.train import FitRequest, fit  # noqa: E402

METHODS = ("none", "s4gan", "unimatch", "u2pl")


class Preloaded(SegDataset):
    """Every sample of ``base`` decoded once up front, so data generation is not timed."""

    def __init__(self, base: SegDataset) -> None:
        self.name, self.class_names = base.name, base.class_names
        self.samples = [base[i] for i in range(len(base))]

    def __len__(self) -> int:
        return len(self.samples)

    def meta(self, index: int) -> FrameMeta:
        return self.samples[index].meta

    def load(self, index: int) -> Sample:
        return self.samples[index]


def _dataset(name: str, image_size: tuple[int, int], images: int) -> SegDataset:
    if name == "synthdrive":
        from alseg.data.registry import create_dataset

        frames = max(1, images // 4)
        return create_dataset(
            "synthdrive", "train", image_size=image_size, num_drives=4, frames_per_drive=frames
        )
    from tests.fakes import BlobDataset

    return BlobDataset(sequences=4, frames=max(1, images // 4), size=image_size[0])


def _seconds_per_iteration(
    method: str,
    labeled: SegDataset,
    unlabeled: SegDataset,
    train: TrainConfig,
    device: torch.device,
    warmup: int,
) -> tuple[float, dict[str, float]]:
    torch.manual_seed(0)
    model = build_model(labeled.num_classes, weights="none")
    stamps: list[float] = []

    def on_step(iteration: int, total: int, loss: float) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    ssl = SSLConfig(method=method)
    result = fit(FitRequest(model, labeled, unlabeled, train, ssl, device, 0, on_step))
    timed = stamps[warmup - 1 :] if warmup > 0 else stamps
    return (timed[-1] - timed[0]) / (len(timed) - 1), result.losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("synthdrive", "blobs"), default="synthdrive")
    parser.add_argument("--image-size", type=int, nargs=2, default=(64, 128), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first iterations")
    parser.add_argument("--images", type=int, default=64, help="labeled + unlabeled images")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dataset = Preloaded(_dataset(args.dataset, tuple(args.image_size), args.images))
    order = np.random.default_rng(0).permutation(len(dataset))
    half = len(dataset) // 2
    labeled, unlabeled = SubsetDataset(dataset, order[:half]), SubsetDataset(dataset, order[half:])
    train = TrainConfig(
        epochs=0,
        min_iterations=args.iterations + max(1, args.warmup),
        batch_size=args.batch,
        channels_last=device.type == "cuda",
    )
    print(
        f"{args.dataset} {args.image_size[0]}x{args.image_size[1]}, batch {args.batch} labeled + "
        f"{args.batch} unlabeled, {args.iterations} timed iterations, {device} "
        f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(f"{'method':<10} {'s/iter':>8} {'x sup':>7}  last losses")
    baseline = None
    for method in args.methods:
        seconds, losses = _seconds_per_iteration(
            method, labeled, unlabeled, train, device, max(1, args.warmup)
        )
        baseline = seconds if method == "none" else baseline
        ratio = f"{seconds / baseline:7.2f}" if baseline else "      -"
        terms = " ".join(f"{k}={v:.3f}" for k, v in losses.items() if k != "total")
        print(f"{method:<10} {seconds:8.4f} {ratio}  {terms}")


if __name__ == "__main__":
    main()
