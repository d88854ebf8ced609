"""How good is a round's model: mIoU on labeled images it was not trained on.

From ``HOLDOUT_FROM`` labeled images on, about ``HOLDOUT_SHARE`` of them are held out of the
round model's training and it is evaluated on them ("held-out"). With fewer, the estimate is a
``FOLDS``-fold cross-validation ("k-fold"): a model per fold trained on the other folds and
evaluated on it, their confusion matrices pooled, and the round model trained on every labeled
image. Held-out images and folds are drawn by sequence (``{sequence}_{frame}`` file names), so
near-duplicate frames of a video never sit on both sides; with one sequence only, by image (then
the estimate is optimistic on redundant frames). The mIoU is over the classes present in the
held-out masks or predictions, at the working size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alseg.metrics import ConfusionMatrix

HOLDOUT_FROM = 30
HOLDOUT_SHARE = 0.2
FOLDS = 3


@dataclass(frozen=True)
class EstimatePlan:
    """Positions (into the labeled list) held out: one set (held-out) or one per fold."""

    method: str  # "held-out" or "k-fold"
    held_out: list[np.ndarray]
    grouped_by: str  # "sequence" or "image"


def plan_estimate(sequences: Sequence[str], rng: np.random.Generator) -> EstimatePlan | None:
    """How to estimate quality over labeled images of ``sequences``; None below 2 images."""
    n = len(sequences)
    if n < 2:
        return None
    names = sorted(set(sequences))
    grouped_by = "sequence" if len(names) >= 2 else "image"
    keys = list(sequences) if grouped_by == "sequence" else [str(i) for i in range(n)]
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    order = [groups[k] for k in rng.permutation(sorted(groups)).tolist()]
    if n >= HOLDOUT_FROM:
        target = math.ceil(HOLDOUT_SHARE * n)
        held: list[int] = []
        for members in order:
            if len(held) >= target:
                break
            held += members
        if len(held) > n // 2:  # one sequence holds most images: hold out single images
            held = rng.permutation(n)[:target].tolist()
            grouped_by = "image"
        return EstimatePlan("held-out", [np.sort(np.asarray(held))], grouped_by)
    folds: list[list[int]] = [[] for _ in range(min(FOLDS, len(order)))]
    for members in sorted(order, key=len, reverse=True):
        min(folds, key=len).extend(members)
    return EstimatePlan("k-fold", [np.sort(np.asarray(f)) for f in folds], grouped_by)


def quality_record(
    plan: EstimatePlan,
    matrices: list[ConfusionMatrix],
    class_names: Sequence[str],
    labeled: int,
    trained_on: int,
) -> dict[str, object]:
    """The estimate as stored in the state and the round folder, with a one-line summary."""
    pooled = ConfusionMatrix(len(class_names))
    for matrix in matrices:
        pooled.matrix += matrix.matrix
    miou = _percent(pooled.miou())
    iou = pooled.iou()
    per_class = {name: _percent(v) for name, v in zip(class_names, iou, strict=True)}
    held = int(sum(len(h) for h in plan.held_out))
    shown = "n/a" if miou is None else f"{miou:.1f}%"
    if plan.method == "held-out":
        summary = (
            f"mIoU {shown} on {held} labeled images held out of the round model's training "
            f"(held out by {plan.grouped_by}; the model is trained on the other {trained_on})"
        )
    else:
        summary = (
            f"mIoU {shown} by {len(plan.held_out)}-fold cross-validation over the "
            f"{labeled} labeled images (folds by {plan.grouped_by}); the round model is "
            f"trained on all {trained_on}"
        )
    return {
        "method": plan.method,
        "miou": miou,
        "held_out": held,
        "folds": len(plan.held_out),
        "fold_miou": [_percent(m.miou()) for m in matrices],
        "grouped_by": plan.grouped_by,
        "per_class_iou": per_class,
        "summary": summary,
    }


def _percent(value: float) -> float | None:
    """A fraction as a percentage rounded to 0.01; None for NaN (nothing to measure)."""
    return None if math.isnan(value) else round(100.0 * float(value), 2)
