"""Memory and disk throughput of the inference pass with pool results in RAM or on disk.

A fake fast "model" (a fixed random projection: 8x8 images -> 4-class logits and a 1024-d
embedding) scores synthetic pools of 8x8 images generated on the fly, for needs ``entropy`` and
``embedding``, three ways: in memory (today's default), on disk in float32, on disk with float16
embeddings. Each run is its own subprocess, so its memory figures are its own.

Memory is read from /proc/self/status after every batch and after the read-back: ``RssAnon``
(heap: the process's own anonymous pages, which is what must not grow with N) and ``RssFile``
(file pages mapped into the process: the store's memory maps while they are read, page cache the
kernel reclaims under pressure), their peaks, and VmHWM (peak of both together). Pages written
with pwrite sit in the page cache but are never mapped, so they count in neither.

Write throughput is the store's bytes over the time spent in ``StoredPass.write_chunk`` (pwrite
plus fdatasync of the rows and the chunk's completion bytes). Read throughput is a sequential
pass over the embeddings memory map in 4,096-row blocks copied into RAM, first cold (the files'
pages dropped from the page cache with posix_fadvise DONTNEED, which works without root on clean
pages), then warm, then once more converted to float32 (what ``distances.as_matrix`` does to a
float16 matrix). RssFile starts at a few hundred MiB of mapped shared libraries (torch): the store's
share is the read peak less that baseline.

    python benchmarks/bench_poolstore.py                    # pools of 20,000 and 200,000 images
    python benchmarks/bench_poolstore.py --sizes 5000 --dir /mnt/scratch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("memory", "float32", "float16")


def status() -> dict[str, int]:
    """RssAnon, RssFile and VmHWM of this process, in KiB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("RssAnon", "RssFile", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def run_one(size: int, mode: str, folder: str, batch_size: int, chunk_images: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from alseg.acquisition import poolstore
    from alseg.acquisition.inference import infer_pool
    from alseg.data.base import FrameMeta, Sample, SegDataset
    from alseg.models.protocol import ModelOutput

    torch.set_num_threads(1)

    class Pool(SegDataset):
        """``size`` deterministic 8x8 images, made when loaded."""

        name = "synthetic"
        class_names = ("a", "b", "c", "d")

        def __len__(self) -> int:
            return size

        def meta(self, index: int) -> FrameMeta:
            return FrameMeta("s", index)

        def load(self, index: int) -> Sample:
            pixels = (index * 2654435761 + np.arange(192) * 40503) % 251
            image = pixels.astype(np.uint8).reshape(8, 8, 3)
            return Sample(image, np.zeros((8, 8), dtype=np.int64), self.meta(index))

    class Projection(nn.Module):
        """Logits by a 1x1 convolution, the embedding by a fixed 192 -> 1024 projection."""

        num_classes, head_dropout = 4, 0.0

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.head = nn.Conv2d(3, 4, 1)
            self.project = nn.Linear(192, 1024)

        def encode(self, images: torch.Tensor) -> torch.Tensor:
            return images

        def decode(self, features, size, dropout_mask=None) -> ModelOutput:  # noqa: ANN001
            embedded = self.project(features.flatten(1))[:, :, None, None]
            return ModelOutput(logits=self.head(features), features=embedded)

        def embedding(self, output: ModelOutput) -> torch.Tensor:
            return output.features.flatten(1)

    peaks = {"RssAnon": 0, "RssFile": 0}

    def sample(*_: object) -> None:
        for name, value in status().items():
            if name in peaks:
                peaks[name] = max(peaks[name], value)

    written = {"bytes": 0, "seconds": 0.0}
    write_chunk = poolstore.StoredPass.write_chunk

    def timed_write(self, chunk, values):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        write_chunk(self, chunk, values)
        written["seconds"] += time.perf_counter() - started
        written["bytes"] += sum(self._stored(need, v).nbytes for need, v in values.items())

    poolstore.StoredPass.write_chunk = timed_write
    baseline = status()
    store = None if mode == "memory" else poolstore.PoolResultsStore(folder, mode)
    started = time.perf_counter()
    model, pool, needs, cpu = Projection(), Pool(), {"entropy", "embedding"}, torch.device("cpu")
    results = infer_pool(
        model,
        pool,
        np.arange(size),
        needs,
        cpu,
        batch_size=batch_size,
        on_batch=sample,
        store=store,
        chunk_images=chunk_images,
    )
    pass_seconds = time.perf_counter() - started
    sample()
    after_pass = dict(peaks)
    embeddings = results["embedding"]
    report = {
        "size": size,
        "mode": mode,
        "pass_seconds": pass_seconds,
        "images_per_second": size / pass_seconds,
        "baseline_anon_mib": baseline["RssAnon"] / 1024,
        "baseline_file_mib": baseline["RssFile"] / 1024,
        "pass_peak_anon_mib": after_pass["RssAnon"] / 1024,
        "pass_peak_file_mib": after_pass["RssFile"] / 1024,
        "embedding_mib": embeddings.nbytes / 2**20,
    }
    if store is not None:
        started = time.perf_counter()  # the same model again: the key, then the stored files
        infer_pool(model, pool, np.arange(size), needs, cpu, batch_size=batch_size, store=store)
        report["reuse_seconds"] = time.perf_counter() - started
        report["write_mb_per_s"] = written["bytes"] / written["seconds"] / 1e6
        files = list(Path(folder).rglob("*.npy"))
        report["store_mib"] = sum(f.stat().st_size for f in files) / 2**20
        for path in files:
            descriptor = os.open(path, os.O_RDONLY)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(descriptor)
    for temperature in ("cold", "warm"):
        started = time.perf_counter()
        for start in range(0, size, 4096):
            np.array(embeddings[start : start + 4096])  # a copy into RAM: the bytes are read
            sample()
        seconds = time.perf_counter() - started
        report[f"read_{temperature}_mb_per_s"] = embeddings.nbytes / seconds / 1e6
    report["float32_read_mb_per_s"] = float("nan")
    if embeddings.dtype != np.float32:
        started = time.perf_counter()
        for start in range(0, size, 4096):
            np.asarray(embeddings[start : start + 4096], dtype=np.float32)  # as as_matrix does
        seconds = time.perf_counter() - started
        report["float32_read_mb_per_s"] = embeddings.nbytes / seconds / 1e6
    report["read_peak_anon_mib"] = peaks["RssAnon"] / 1024
    report["read_peak_file_mib"] = peaks["RssFile"] / 1024
    report["vm_hwm_mib"] = status()["VmHWM"] / 1024
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--dir", default=None, help="where the stores go (default: a temp dir)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--chunk-images", type=int, default=1024)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, mode, folder = json.loads(args.one)
        print(json.dumps(run_one(size, mode, folder, args.batch_size, args.chunk_images)))
        return
    header = (
        f"{'images':>8} {'results':>8} {'pass s':>7} {'img/s':>7} {'anon base':>9} "
        f"{'anon pass':>9} {'anon read':>9} {'file base':>9} {'file read':>9} {'HWM':>6} "
        f"{'store':>6} {'write':>7} {'cold rd':>8} {'warm rd':>8} {'as f32':>7} {'reuse s':>7}"
    )
    print(
        "MiB for memory (RssAnon/RssFile: before the pass, peak during it, peak while reading "
        "back), MB/s for throughput (write, cold/warm read, read converted to float32), "
        "seconds of a second pass with the same model (nothing computed)"
    )
    print(header)
    for size in args.sizes:
        for mode in args.modes:
            with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-poolstore-") as folder:
                one = json.dumps([size, mode, folder])
                command = [sys.executable, __file__, "--one", one]
                command += ["--batch-size", str(args.batch_size)]
                command += ["--chunk-images", str(args.chunk_images)]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                output = subprocess.run(command, capture_output=True, text=True, env=env)
                if output.returncode:
                    sys.exit(output.stderr)
            r = json.loads(output.stdout.strip().splitlines()[-1])
            print(
                f"{size:>8} {mode:>8} {r['pass_seconds']:>7.1f} {r['images_per_second']:>7.0f} "
                f"{r['baseline_anon_mib']:>9.0f} {r['pass_peak_anon_mib']:>9.0f} "
                f"{r['read_peak_anon_mib']:>9.0f} {r['baseline_file_mib']:>9.0f} "
                f"{r['read_peak_file_mib']:>9.0f} {r['vm_hwm_mib']:>6.0f} "
                f"{r.get('store_mib', 0):>6.0f} {r.get('write_mb_per_s', float('nan')):>7.0f} "
                f"{r['read_cold_mb_per_s']:>8.0f} {r['read_warm_mb_per_s']:>8.0f} "
                f"{r['float32_read_mb_per_s']:>7.0f} {r.get('reuse_seconds', float('nan')):>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
