"""Summary statistics of datasets, pools and pool list files: JSON-ready dicts and rich tables.

Temporal keys: ``runs`` lists maximal runs of frames at each tolerated frame-number ``gap``;
``redundancy`` is the share of frames with another frame of their sequence within ``k`` frame
numbers, ``neighbours`` the mean number of such frames. For datasets and pools,
``runs_in_dataset_order`` counts runs of frames adjacent in the (base) dataset, whatever the frame
numbering, and ``groups`` the pool's groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from alseg.data.base import IGNORE_INDEX, SegDataset
from alseg.data.frames import parse_frame_path
from alseg.data.pools import PoolDataset, read_pool_list
from alseg.data.temporal import (
    A2D2_LIST_GAP,
    frames_per_sequence,
    mean_neighbours,
    nearest_gaps,
    num_sequences,
    ranks_in,
    run_sizes,
    size_histogram,
    temporal_redundancy,
)

DEFAULT_WINDOWS = (1, 5, 20, 100)


def _sizes_summary(sizes: np.ndarray, gap: int | None, unit: str) -> dict[str, Any]:
    return {
        "gap": gap,
        "unit": unit,
        "count": int(len(sizes)),
        "mean_size": float(sizes.mean()) if len(sizes) else 0.0,
        "max_size": int(sizes.max()) if len(sizes) else 0,
        "histogram": {str(k): v for k, v in size_histogram(sizes).items()},
    }


def temporal_stats(
    sequences: Sequence[str],
    frames: Sequence[int],
    windows: Sequence[int] = DEFAULT_WINDOWS,
    gaps: Sequence[int] = (1,),
) -> dict[str, Any]:
    """Sequence counts, runs at every gap and redundancy at every window of (sequence, frame)
    lists; ``median_nearest_gap`` is the median frame distance to the nearest frame of the same
    sequence (frames alone in their sequence left out)."""
    counts = np.asarray(list(frames_per_sequence(sequences).values()), dtype=np.int64)
    gaps_to_nearest = nearest_gaps(sequences, frames)
    gaps_to_nearest = gaps_to_nearest[gaps_to_nearest >= 0]
    return {
        "images": len(frames),
        "unique_frames": len(set(zip(sequences, frames, strict=True))),
        "sequences": num_sequences(sequences),
        "frames_per_sequence": {
            "min": int(counts.min()) if len(counts) else 0,
            "median": float(np.median(counts)) if len(counts) else 0.0,
            "mean": float(counts.mean()) if len(counts) else 0.0,
            "max": int(counts.max()) if len(counts) else 0,
        },
        "runs": [
            _sizes_summary(run_sizes(sequences, frames, gap), gap, "frame number") for gap in gaps
        ],
        "median_nearest_gap": float(np.median(gaps_to_nearest)) if len(gaps_to_nearest) else None,
        "redundancy": {str(k): temporal_redundancy(sequences, frames, k) for k in windows},
        "neighbours": {str(k): mean_neighbours(sequences, frames, k) for k in windows},
    }


def class_pixel_shares(dataset: SegDataset, max_images: int | None = None) -> dict[str, float]:
    """Share of labeled pixels per class (and of ignored pixels among all, key "ignore"), over
    ``max_images`` evenly spaced samples (all when None)."""
    n = len(dataset)
    count = n if max_images is None else min(n, max_images)
    indices = np.unique(np.linspace(0, n - 1, count).round().astype(np.int64)) if count else []
    pixels = np.zeros(dataset.num_classes, dtype=np.int64)
    ignored = total = 0
    for i in indices:
        mask = dataset[int(i)].mask
        labeled = mask[mask != IGNORE_INDEX]
        pixels += np.bincount(labeled.ravel(), minlength=dataset.num_classes)
        ignored += mask.size - labeled.size
        total += mask.size
    shares = pixels / max(int(pixels.sum()), 1)
    result = {name: float(s) for name, s in zip(dataset.class_names, shares, strict=True)}
    result["ignore"] = ignored / max(total, 1)
    return result


def dataset_stats(
    source: SegDataset | Sequence[tuple[str, int]],
    class_frequencies: bool = False,
    max_images: int | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    gaps: Sequence[int] = (1,),
) -> dict[str, Any]:
    """Statistics of a dataset, a pool or a list of (sequence, frame) pairs.

    ``class_frequencies`` adds per-class pixel shares (masks of up to ``max_images`` samples).
    """
    if not isinstance(source, SegDataset):
        sequences = [s for s, _ in source]
        frames = [int(f) for _, f in source]
        return {"source": "frames", **temporal_stats(sequences, frames, windows, gaps)}
    metas = [source.meta(i) for i in range(len(source))]
    sequences = [m.sequence for m in metas]
    frames = [m.frame for m in metas]
    kind = f" pool {source.kind}" if isinstance(source, PoolDataset) else ""
    stats: dict[str, Any] = {
        "source": f"{source.name}{kind}",
        **temporal_stats(sequences, frames, windows, gaps),
    }
    reference = source.base if isinstance(source, PoolDataset) else source
    all_metas = metas if reference is source else [reference.meta(i) for i in range(len(reference))]
    ranks = ranks_in(
        sequences, frames, [m.sequence for m in all_metas], [m.frame for m in all_metas]
    )
    stats["runs_in_dataset_order"] = _sizes_summary(
        run_sizes(sequences, ranks.tolist(), 1), 1, "dataset order"
    )
    groups = np.asarray([m.group for m in metas if m.group != -1], dtype=np.int64)
    if len(groups):
        sizes = np.unique(groups, return_counts=True)[1]
        stats["groups"] = _sizes_summary(sizes, None, "pool group")
    if class_frequencies:
        stats["class_frequencies"] = class_pixel_shares(source, max_images)
        stats["class_frequency_images"] = (
            len(source) if max_images is None else min(len(source), max_images)
        )
    return stats


def list_stats(
    path: str | Path,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    gaps: Sequence[int] = (1, A2D2_LIST_GAP),
) -> dict[str, Any]:
    """Statistics of a pool list file from its file names alone (no images are read).

    Repeated lines are counted (``duplicate_lines``) and then counted once.
    """
    lines = read_pool_list(path, dedupe=False)
    unique = list(dict.fromkeys(lines))
    parsed = [parse_frame_path(p) for p in unique]
    return {
        "source": str(path),
        "lines": len(lines),
        "duplicate_lines": len(lines) - len(unique),
        **temporal_stats([s for s, _ in parsed], [f for _, f in parsed], windows, gaps),
    }


def _histogram_text(histogram: dict[str, int], limit: int = 8) -> str:
    items = list(histogram.items())
    shown = " ".join(f"{size}:{count}" for size, count in items[:limit])
    return shown + (f" … (+{len(items) - limit} sizes)" if len(items) > limit else "")


def _runs_text(summary: dict[str, Any]) -> str:
    return (
        f"{summary['count']} (mean {summary['mean_size']:.2f}, max {summary['max_size']}); "
        f"sizes {_histogram_text(summary['histogram'])}"
    )


def stats_table(stats: dict[str, Any]) -> Table:
    """A two-column rich table of a ``dataset_stats`` / ``list_stats`` result."""
    table = Table(title=f"Statistics of {stats['source']}", show_header=True)
    table.add_column("quantity")
    table.add_column("value", overflow="fold")
    if "lines" in stats:
        table.add_row("lines", f"{stats['lines']} ({stats['duplicate_lines']} repeated)")
    table.add_row("images", str(stats["images"]))
    table.add_row("distinct frames", str(stats["unique_frames"]))
    fps = stats["frames_per_sequence"]
    table.add_row(
        "sequences",
        f"{stats['sequences']} (frames each: min {fps['min']}, median {fps['median']:g}, "
        f"mean {fps['mean']:.1f}, max {fps['max']})",
    )
    if "groups" in stats:
        table.add_row("pool groups", _runs_text(stats["groups"]))
    if "runs_in_dataset_order" in stats:
        table.add_row("runs (adjacent in dataset)", _runs_text(stats["runs_in_dataset_order"]))
    for summary in stats["runs"]:
        table.add_row(f"runs (frame gap <= {summary['gap']})", _runs_text(summary))
    if stats["median_nearest_gap"] is not None:
        table.add_row("median gap to nearest frame", f"{stats['median_nearest_gap']:g} frames")
    for k, share in stats["redundancy"].items():
        neighbours = stats["neighbours"][k]
        table.add_row(
            f"redundancy within {k} frames",
            f"{share:.3f} of frames have a neighbour (mean {neighbours:.2f} neighbours)",
        )
    for lag, value in stats.get("label_agreement", {}).items():
        table.add_row(f"label agreement at lag {lag}", f"{value:.3f}")
    if "class_frequencies" in stats:
        table.add_row("class pixel shares", f"from {stats['class_frequency_images']} images")
    for name, share in stats.get("class_frequencies", {}).items():
        table.add_row(f"pixels: {name}", f"{share:.4f}")
    notes = stats.get("data_notes", {})
    if notes.get("unknown_label_pixels"):
        table.add_row("unknown label colours", f"{notes['unknown_label_pixels']} pixels, ignored")
    for color, pixels in notes.get("unknown_label_colors", {}).items():
        table.add_row(f"unknown colour {color}", f"{pixels} pixels")
    return table
