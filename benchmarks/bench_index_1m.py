"""Redundancy index of a million video-like embeddings: wall time, peak memory, and agreement of
the approximate neighbour search with the exact one on a subset.

python benchmarks/bench_index_1m.py --drives 5000 --frames 200 --dim 1024 --subset 40000

The pool: ``drives`` drives of ``frames`` frames each, every drive a centre N(0, I) plus a slow
mean-reverting random walk (stationary N(0, I), correlation ``a`` between consecutive frames,
``a`` uniform in [0.5, 0.97] per drive) plus noise N(0, 0.1 I). Frames t apart then lie at
sqrt((2 (1 - a^t) + 0.2) / 4.2) of the typical distance, so the near-duplicate radius (half the
typical distance) takes in the neighbours up to a^t >= 0.575: none in the fastest drives, about
18 frames either side in the slowest. ``--dtype float16`` stores the pool in a float16 memmap
(``--memmap``, default a temporary file), read by the index without a whole copy.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from alseg import advise
from alseg.advise import redundancy_index, sequence_neighbour_pairs
from alseg.neighbours import NeighbourStats, near_duplicate_radius, neighbour_stats

NOISE = 0.1**0.5
SPEEDS = (0.5, 0.97)
#: Drives generated at once.
BATCH = 128
#: Rows per block of the exact check of sampled images against the whole pool.
CHECK_CHUNK = 16_384


def video_embeddings(
    drives: int, frames: int, dim: int, seed: int, out: np.ndarray
) -> tuple[list[str], list[int]]:
    """Fill ``out`` (drives * frames, dim), drive after drive; the sequence and frame of every
    row."""
    rng = np.random.default_rng(seed)
    for first in range(0, drives, BATCH):
        count = min(BATCH, drives - first)
        speed = rng.uniform(*SPEEDS, size=(count, 1)).astype(np.float32)
        step = np.sqrt(1 - speed**2)
        centre = rng.standard_normal((count, dim), dtype=np.float32)
        walk = rng.standard_normal((count, dim), dtype=np.float32)
        block = np.empty((count, frames, dim), dtype=np.float32)
        for t in range(frames):
            walk = speed * walk + step * rng.standard_normal((count, dim), dtype=np.float32)
            block[:, t] = centre + walk + NOISE * rng.standard_normal((count, dim), np.float32)
        out[first * frames : (first + count) * frames] = block.reshape(-1, dim)
    sequences = [f"drive{d}" for d in range(drives) for _ in range(frames)]
    return sequences, [t for _ in range(drives) for t in range(frames)]


class PeakRss:
    """Peak resident memory (MiB) while the block runs, sampled from /proc every 20 ms."""

    def __enter__(self) -> PeakRss:
        self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mib())


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Recorded:
    """``advise.neighbour_stats`` that keeps its last radius and result (to check them)."""

    def __init__(self) -> None:
        self.radius = 0.0
        self.stats: NeighbourStats | None = None

    def __call__(
        self, x: np.ndarray, radius: float, *args: object, **kwargs: object
    ) -> NeighbourStats:
        self.radius = radius
        self.stats = neighbour_stats(x, radius, *args, **kwargs)
        return self.stats


def sampled_recall(x: np.ndarray, stats: NeighbourStats, radius: float, size: int) -> None:
    """Exact near-duplicate counts of ``size`` random images against the whole pool (float64)
    compared with the counts of the run: recall at full scale, no false positives asserted."""
    rows = np.sort(np.random.default_rng(1).choice(len(x), min(size, len(x)), replace=False))
    queries = torch.from_numpy(np.asarray(x[rows], np.float64))
    query_sq = (queries * queries).sum(1)
    count = torch.zeros(len(rows), dtype=torch.int64)
    start = time.perf_counter()
    for first in range(0, len(x), CHECK_CHUNK):
        refs = torch.from_numpy(np.asarray(x[first : first + CHECK_CHUNK], np.float64))
        block = query_sq[:, None] + (refs * refs).sum(1)[None, :] - 2 * queries @ refs.T
        count += (block <= radius * radius).sum(1)
    exact = count.numpy() - 1  # each image itself
    found = stats.count[rows]
    assert (found <= exact).all(), "approximate counts exceed the exact ones"
    print(
        f"full-scale check of {len(rows)} random images against all {len(x)} "
        f"({time.perf_counter() - start:.0f} s): near-duplicate recall "
        f"{found.sum() / max(1, exact.sum()):.5f} ({found.sum()} of {exact.sum()}), "
        f"images with every near-duplicate found {np.mean(found == exact):.4f}"
    )


def agreement(x: np.ndarray, sequences: list[str], frames: list[int], seed: int) -> None:
    """Exact against approximate neighbours and index on a subset: near-duplicate pair recall
    (no false positives asserted) and the two indices."""
    radius = near_duplicate_radius(x, seed)
    pairs = sequence_neighbour_pairs(sequences, frames)
    start = time.perf_counter()
    exact = neighbour_stats(x, radius, method="exact")
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    approx = neighbour_stats(x, radius, method="approximate", candidate_pairs=pairs, seed=seed)
    approx_s = time.perf_counter() - start
    lists_only = neighbour_stats(x, radius, method="approximate", seed=seed)
    assert (approx.count <= exact.count).all(), "approximate counts exceed the exact ones"
    recall = approx.count.sum() / max(1, exact.count.sum())
    recall_lists = lists_only.count.sum() / max(1, exact.count.sum())
    nn_agree = np.mean(approx.distance <= exact.distance * (1 + 1e-9))
    reports = {
        method: redundancy_index(x, sequences, frames, neighbours=method, seed=seed)
        for method in ("exact", "approximate")
    }
    exact_index, approx_index = reports["exact"].index, reports["approximate"].index
    print(
        f"subset N={len(x)}: neighbours exact {exact_s:.1f} s, approximate {approx_s:.1f} s; "
        f"near-duplicate pair recall {recall:.5f} "
        f"({approx.count.sum() // 2} of {exact.count.sum() // 2} pairs; lists alone, without "
        f"the frames close in time, {recall_lists:.5f}), "
        f"exact nearest neighbour found for {nn_agree:.4f}; "
        f"index exact {exact_index:.5f}, approximate {approx_index:.5f} "
        f"(difference {abs(exact_index - approx_index):.5f}); embedding part exact "
        f"{reports['exact'].embedding_redundancy:.5f}, approximate "
        f"{reports['approximate'].embedding_redundancy:.5f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drives", type=int, default=5000)
    parser.add_argument("--frames", type=int, default=200, help="frames per drive")
    parser.add_argument("--dim", type=int, default=1024, help="embedding dimension")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    parser.add_argument("--memmap", type=Path, help="float16 file (default: a temporary one)")
    parser.add_argument("--subset", type=int, default=40_000, help="0: no all-pairs subset")
    parser.add_argument(
        "--check", type=int, default=1000, help="images checked exactly at full scale (0: none)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    n = args.drives * args.frames
    with tempfile.TemporaryDirectory() as folder:
        if args.dtype == "float16":
            path = args.memmap or Path(folder) / "embeddings.f16"
            x = np.lib.format.open_memmap(path, "w+", np.float16, (n, args.dim))
        else:
            x = np.empty((n, args.dim), dtype=np.float32)
        start = time.perf_counter()
        sequences, frames = video_embeddings(args.drives, args.frames, args.dim, args.seed, x)
        print(
            f"generated N={n} D={args.dim} {args.dtype} in {time.perf_counter() - start:.0f} s, "
            f"RSS {_rss_mib():.0f} MiB, threads={torch.get_num_threads()} "
            f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
        )
        recorded = advise.neighbour_stats = Recorded()
        with PeakRss() as rss:
            start = time.perf_counter()
            report = redundancy_index(x, sequences, frames, seed=args.seed)
            seconds = time.perf_counter() - start
        advise.neighbour_stats = neighbour_stats
        print(
            f"redundancy_index N={n}: {seconds:.1f} s, peak RSS {rss.peak:.0f} MiB; index "
            f"{report.index:.4f} ({report.regime}, {report.neighbours} neighbours), embedding "
            f"part {report.embedding_redundancy:.4f}, near-duplicate share "
            f"{report.near_duplicate_share:.4f}, temporal part {report.temporal_redundancy:.4f}"
        )
        if args.check:
            sampled_recall(x, recorded.stats, recorded.radius, args.check)
        if args.subset:
            size = min(n, args.subset)
            agreement(np.asarray(x[:size], np.float32), sequences[:size], frames[:size], args.seed)
        whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the whole run {whole:.0f} MiB")


if __name__ == "__main__":
    main()
