"""Scoring overhead of each strategy's inference pass over a plain forward pass on the same batches.

python benchmarks/bench_scoring.py [--images 256] [--size 64x128] [--batch 32] [--mc-passes 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alseg.acquisition.inference import eval_batches, infer_pool
from alseg.acquisition.strategies import STRATEGIES
from alseg.data.registry import create_dataset
from alseg.models import build_model


def plain_forward(model, dataset, indices, batch, device) -> float:
    started = time.perf_counter()
    with torch.no_grad():
        for images, _, _ in eval_batches(dataset, indices, batch):
            model(images.to(device)).argmax(1)
    return time.perf_counter() - started


def timed(model, dataset, indices, needs, device, args) -> float:
    started = time.perf_counter()
    infer_pool(model, dataset, indices, needs, device, args.batch, mc_passes=args.mc_passes)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", default="64x128")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mc-passes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many passes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    device = torch.device(args.device)
    dataset = create_dataset("synthdrive", "train", image_size=(h, w))
    indices = np.arange(args.images)
    model = build_model(dataset.num_classes, head_dropout=0.5).eval().to(device)
    plain_forward(model, dataset, indices[: args.batch], args.batch, device)  # warm-up
    base = min(
        plain_forward(model, dataset, indices, args.batch, device) for _ in range(args.repeats)
    )
    threads = torch.get_num_threads()
    print(f"{args.images} images {h}x{w}, batch {args.batch}, {device}, {threads} threads")
    print(f"{'pass':<22}{'seconds':>9}{'overhead':>10}")
    print(f"{'plain forward':<22}{base:>9.2f}{'':>10}")
    measured: dict[frozenset, float] = {}
    for strategy in STRATEGIES.values():
        needs = strategy.needs
        if not needs or needs in measured:
            continue
        measured[needs] = min(
            timed(model, dataset, indices, needs, device, args) for _ in range(args.repeats)
        )
        label = "+".join(sorted(needs))
        print(f"{label:<22}{measured[needs]:>9.2f}{100 * (measured[needs] / base - 1):>9.0f}%")


if __name__ == "__main__":
    main()
