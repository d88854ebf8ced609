"""Writing one experiment's results: ``results.json`` and ``curve.png``, atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alseg.acquisition.registry import FULL
from alseg.io import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from alseg.loop import ExperimentResult


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def save_results(result: ExperimentResult, out_dir: Path) -> Path:
    path = out_dir / "results.json"
    atomic_write_text(path, json.dumps(_clean(result.to_dict()), indent=2))
    return path


def save_curve(results: list[ExperimentResult], path: Path, title: str = "") -> Path:
    """mIoU against labeled fraction, one line per result (a full reference as a dashed line)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for result in results:
        x = [100 * c.nominal_fraction for c in result.cycles]
        y = [c.miou for c in result.cycles]
        if result.strategy == FULL:
            axes.axhline(y[0], linestyle="--", color="grey", label=f"{result.label} labeled")
        else:
            axes.plot(x, y, marker="o", label=result.label)
    axes.set_xlabel("labeled images (% of pool)")
    axes.set_ylabel("mIoU (%)")
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip(".") or "png")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path
