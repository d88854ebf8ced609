"""Time ``alseg.advise.redundancy_index`` on random embeddings and report its peak memory.

python benchmarks/bench_advise.py --n 40000 --dim 1024 [--neighbours exact]

Above ``alseg.neighbours.EXACT_MAX_POINTS`` images the index takes the approximate neighbour
search by default (``--neighbours auto``); ``benchmarks/bench_index_1m.py`` measures it at a
million video-like embeddings with its agreement with the exact search.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from alseg.advise import redundancy_index


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40_000, help="number of embeddings")
    parser.add_argument("--dim", type=int, default=1024, help="embedding dimension")
    parser.add_argument("--chunk", type=int, default=2048, help="block size of the NN search")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neighbours", choices=["auto", "exact", "approximate"], default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    embeddings = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    sequences = [f"seq{i % 22}" for i in range(args.n)]
    frames = list(range(args.n))
    before = peak_rss_mib()
    start = time.perf_counter()
    report = redundancy_index(
        embeddings, sequences, frames, chunk=args.chunk, seed=args.seed, neighbours=args.neighbours
    )
    seconds = time.perf_counter() - start
    print(
        f"redundancy_index N={args.n} D={args.dim} chunk={args.chunk} "
        f"threads={torch.get_num_threads()}: {seconds:.1f} s, "
        f"peak RSS {peak_rss_mib():.0f} MiB (embeddings + setup {before:.0f} MiB), "
        f"index {report.index:.3f} ({report.regime}, {report.neighbours} neighbours)"
    )


if __name__ == "__main__":
    main()
