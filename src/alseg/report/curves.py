"""Budget curves like the paper's Fig. 1: mIoU against labeled fraction, the mean over seeds with
a band of ±1 sample std (stated in the figure), x ticks at the budget steps, one line per method
(SSL variants dashed), the 100% references as horizontal bands. Written as PNG (200 dpi), PDF and
SVG."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alseg.io import atomic_write_bytes
from alseg.report.records import RunRecord
from alseg.report.tables import pool_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "pdf", "svg")
PNG_DPI = 200
BAND = "band: ±1 sample std over the n seeds of each line"


def safe_name(*parts: str) -> str:
    """A file name from labels: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("_")


def mean_and_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and the sample std (zero for a single seed)."""
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])
    return values.mean(axis=0), std


def budget_curves(records: list[RunRecord], out_dir: Path) -> list[Path]:
    """One figure per (dataset, pool, budget), written as PNG and SVG into ``out_dir``."""
    labels = pool_labels(records)
    runs = [r for r in records if not r.is_reference]
    scenarios = list(dict.fromkeys((r.dataset, labels[r.pool_id], r.budget) for r in runs))
    strategies = list(dict.fromkeys(r.strategy for r in runs))
    written = []
    for dataset, pool, budget in scenarios:
        members = [
            r for r in runs if (r.dataset, labels[r.pool_id], r.budget) == (dataset, pool, budget)
        ]
        references = [
            r
            for r in records
            if r.is_reference and (r.dataset, labels[r.pool_id]) == (dataset, pool)
        ]
        figure = budget_figure(
            members, references, strategies, f"{dataset} {pool}, budget {budget}"
        )
        written += save_figure(figure, out_dir, safe_name(dataset, pool, budget))
    return written


def budget_figure(
    members: list[RunRecord], references: list[RunRecord], strategies: list[str], title: str
) -> Figure:
    """mIoU against % labeled: per method the mean over seeds with a ±1 std band (the legend's
    title says so), the references as horizontal lines, x ticks at the budget steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    for method in dict.fromkeys(r.method for r in members):
        runs = [r for r in members if r.method == method]
        cycles = min(len(r.mious) for r in runs)
        x = 100 * np.asarray(runs[0].fractions[:cycles])
        mean, std = mean_and_band(np.asarray([r.mious[:cycles] for r in runs]))
        color = colors[strategies.index(runs[0].strategy) % len(colors)]
        style = "-" if runs[0].ssl == "none" else "--"
        axes.plot(x, mean, style, marker="o", color=color, label=f"{method} (n={len(runs)})")
        axes.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    for method in dict.fromkeys(r.method for r in references):
        runs = [r for r in references if r.method == method]
        mean, std = mean_and_band(np.asarray([[r.miou_at_budget] for r in runs]))
        line = ":" if "MCD" in method else "--"
        axes.axhline(mean[0], linestyle=line, color="grey", label=f"{method} (n={len(runs)})")
        axes.axhspan(mean[0] - std[0], mean[0] + std[0], color="grey", alpha=0.12, linewidth=0)
    steps = sorted({round(100 * f, 6) for r in members for f in r.fractions})
    axes.set_xticks(steps, [f"{step:.3g}" for step in steps])
    axes.set_xlabel("labeled images (% of pool)")
    axes.set_ylabel("mIoU (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, title=BAND, title_fontsize=7)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for extension in FORMATS:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=extension, dpi=PNG_DPI)  # vector formats ignore dpi
        path = out_dir / f"{stem}.{extension}"
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    plt.close(figure)
    return paths
