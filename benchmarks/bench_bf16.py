"""Does bf16 autocast pay on this CPU? Training steps and the inference pass of the default model.

DeepLabv3+ / EfficientNet-Lite0 (channels_last, as alseg trains it) on random 64x128 batches:
images per second of a training step (forward, cross-entropy, backward, SGD) and of an
inference forward pass, in float32 and under ``torch.autocast("cpu", torch.bfloat16)``; best of
``--repeats`` timings after a warm-up. Run it on a quiet machine:

    python benchmarks/bench_bf16.py --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from alseg.models import build_model


def images_per_second(step, batch: int, steps: int, repeats: int) -> float:
    step()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - start)
    return batch * steps / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", default="64x128")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    model = build_model(19).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.rand(args.batch, 3, height, width).contiguous(memory_format=torch.channels_last)
    masks = torch.randint(0, 19, (args.batch, height, width))
    print(f"bf16 on CPU: {args.size}, batch {args.batch}, {args.threads} threads")
    for name, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):

        def train_step(dtype=dtype) -> None:
            model.train()
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = F.cross_entropy(model(images), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        @torch.no_grad()
        def infer_step(dtype=dtype) -> None:
            model.eval()
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                model(images)

        train = images_per_second(train_step, args.batch, args.steps, args.repeats)
        infer = images_per_second(infer_step, args.batch, args.steps, args.repeats)
        print(f"{name:>9}: training {train:6.1f} images/s, inference {infer:6.1f} images/s")


if __name__ == "__main__":
    main()
