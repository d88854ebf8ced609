"""Images per second of each real-dataset loader on generated trees at the datasets' real sizes.

Writes format-faithful fixtures (tests/fixtures_data.py) into a temporary folder, then times
``ds[i]`` in this process and through a torch DataLoader with worker processes.

    python benchmarks/bench_loaders.py                      # all loaders, 4 frames, 3 passes
    python benchmarks/bench_loaders.py --datasets a2d2 --frames 8 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.fixtures_data as fx  # noqa: E402

from alseg.data.base import Sample  # noqa: E402
from alseg.data.registry import create_dataset  # noqa: E402

A2D2_SEQ = "20180807_145028"


def _cityscapes(root: Path, n: int) -> None:
    fx.make_cityscapes_tree(root, {"train": [("aachen", 0, i) for i in range(n)]}, (1024, 2048))


def _voc(root: Path, n: int) -> None:
    fx.make_voc_tree(root, {"train": [f"2007_{i:06d}" for i in range(n)]}, (375, 500))


def _a2d2(root: Path, n: int) -> None:
    fx.make_a2d2_tree(root, {A2D2_SEQ: range(n)}, (1208, 1920), unknown_color=None)


def _camvid(root: Path, n: int) -> None:
    fx.make_camvid_tree(root, {"train": [f"0001TP_{i:06d}" for i in range(n)]}, (360, 480))


def _folder(root: Path, n: int) -> None:
    stems = {"train": [f"drive_{i:06d}" for i in range(n)]}
    fx.make_folder_tree(root, stems, mask_kind="color", unlabeled=(), size=(512, 1024))


SETUPS: dict[str, tuple[str, Callable[[Path, int], None]]] = {
    "cityscapes": ("1024x2048 PNG + labelIds", _cityscapes),
    "pascal_voc": ("375x500 JPEG + index PNG", _voc),
    "a2d2": ("1208x1920 PNG + colour PNG, 1/3 resize", _a2d2),
    "camvid": ("360x480 PNG + index PNG", _camvid),
    "folder": ("512x1024 PNG + colour PNG", _folder),
}


def _to_tensors(sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate in the worker: tensors travel to the main process through shared memory."""
    return torch.from_numpy(sample.image), torch.from_numpy(sample.mask)


def time_single(ds, passes: int) -> float:
    """Images per second loading every sample ``passes`` times in this process."""
    start = time.perf_counter()
    for _ in range(passes):
        for i in range(len(ds)):
            ds[i]
    return passes * len(ds) / (time.perf_counter() - start)


def time_loader(ds, passes: int, workers: int) -> float:
    """Images per second through a DataLoader, timed from its first sample (after start-up)."""
    order = list(range(len(ds))) * passes
    loader = iter(
        DataLoader(ds, batch_size=None, sampler=order, num_workers=workers, collate_fn=_to_tensors)
    )
    next(loader)
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--frames", type=int, default=4, help="samples written per dataset")
    parser.add_argument("--passes", type=int, default=3, help="times every sample is loaded")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print(f"{'dataset':<11} {'files':<40} {'single img/s':>12} {'loader img/s':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            what, setup = SETUPS[name]
            root = Path(tmp) / name
            setup(root, args.frames)
            ds = create_dataset(name, "train", root)  # a2d2 at its default 1/3 scale
            single = time_single(ds, args.passes)
            loader = time_loader(ds, args.passes, args.workers)
            print(f"{name:<11} {what:<40} {single:>12.1f} {loader:>12.1f}")


if __name__ == "__main__":
    main()
