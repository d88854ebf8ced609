"""Time synthdrive frame generation per image size and measure its label agreement.

python benchmarks/bench_synthdrive.py --frames 300 --sizes 64x128 128x256 256x512

Frames are spread over the default train drives (world chunks are built on first use, so a warm-up
pass renders them once first). "cpu" counts this process's CPU time (what one core can do, less
sensitive to other load on the machine), "wall" the elapsed time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from alseg.data.agreement import label_agreement
from alseg.data.synthdrive import create


def frames_per_second(size: str, frames: int, seed: int) -> tuple[float, float]:
    """(CPU, wall) frames per second rendering ``frames`` spread-out train frames."""
    ds = create("train", image_size=size, seed=seed)
    indices = np.linspace(0, len(ds) - 1, frames).astype(int).tolist()
    for index in indices:
        ds[index]
    cpu, wall = time.process_time(), time.perf_counter()
    for index in indices:
        ds[index]
    return frames / (time.process_time() - cpu), frames / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames timed per size")
    parser.add_argument("--sizes", nargs="+", default=["64x128", "128x256"], help="HxW sizes")
    parser.add_argument("--pairs", type=int, default=400, help="frame pairs per lag")
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"{'size':>9} {'cpu fps':>9} {'wall fps':>9} {'ms/frame':>9}")
    for size in args.sizes:
        cpu_fps, wall_fps = frames_per_second(size, args.frames, args.seed)
        print(f"{size:>9} {cpu_fps:9.0f} {wall_fps:9.0f} {1000 / cpu_fps:9.2f}")
    ds = create("train", seed=args.seed)
    agreement = label_agreement(ds, lags=args.lags, max_pairs=args.pairs, seed=args.seed)
    print(f"label agreement (train, 64x128, up to {args.pairs} pairs per lag):")
    for lag, value in agreement.items():
        print(f"  lag {lag:>3}: {value:.4f}")


if __name__ == "__main__":
    main()
