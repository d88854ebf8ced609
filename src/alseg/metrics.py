"""Segmentation metrics: confusion matrix, IoU, mIoU, the area under the budget curve and the
budget step M of mIoU@M."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from alseg.errors import ConfigError

if TYPE_CHECKING:
    from alseg.config import BudgetConfig

#: The paper pairs AUC@B with mIoU@M at M = I + 2S, the third budget step of the same run
#: (10-10: mIoU@30 with AUC@50; 5-5: mIoU@15 with AUC@25; 2-2: mIoU@6 with AUC@10).
PAIRED_STEP = 2


class ConfusionMatrix:
    """Accumulates a (C, C) confusion matrix over pixels: rows ground truth, columns prediction."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add predicted and true class maps of equal shape; ``ignore_index`` pixels are skipped."""
        pred_t, target_t = torch.as_tensor(pred), torch.as_tensor(target)
        if pred_t.shape != target_t.shape:
            raise ValueError(f"prediction {tuple(pred_t.shape)} and target {tuple(target_t.shape)}")
        pred_t, target_t = pred_t.reshape(-1).long(), target_t.reshape(-1).long()
        valid = target_t != self.ignore_index
        pred_t, target_t = pred_t[valid], target_t[valid]
        c = self.num_classes
        if target_t.numel() and (target_t.min() < 0 or target_t.max() >= c):
            raise ValueError(f"target class ids outside 0..{c - 1}")
        if pred_t.numel() and (pred_t.min() < 0 or pred_t.max() >= c):
            raise ValueError(f"predicted class ids outside 0..{c - 1}")
        counts = torch.bincount(target_t * c + pred_t, minlength=c * c)
        self.matrix += counts.cpu().numpy().reshape(c, c)

    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN where the union is empty."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

    def miou(
        self, absent: Literal["nan", "zero"] = "nan", classes: Sequence[int] | None = None
    ) -> float:
        """Mean IoU. ``nan``: over classes with a non-empty union; ``zero``: over every class,
        classes without a true positive counting 0 (the official code). ``classes`` restricts the
        mean to the classes a dataset can contain."""
        iou = self.iou() if classes is None else self.iou()[np.asarray(classes, dtype=np.int64)]
        if absent == "zero":
            return float(np.nan_to_num(iou, nan=0.0).mean())
        if absent != "nan":
            raise ValueError(f"unknown absent mode {absent!r}; allowed: nan, zero")
        present = iou[~np.isnan(iou)]
        return float(present.mean()) if present.size else float("nan")


def auc_at_budget(fractions: Sequence[float], mious: Sequence[float]) -> float:
    """Area under mIoU (in %) over labeled fraction (0..1), trapezoid rule, first to last point."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(mious, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 1:
        raise ValueError(f"fractions and mIoUs must be equal-length 1-D, got {x.shape}, {y.shape}")
    if np.any(np.diff(x) < 0):
        raise ValueError(f"labeled fractions must not decrease, got {x.tolist()}")
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def budget_steps(budget: BudgetConfig) -> list[float]:
    """The labeled amounts of a budget, in its unit: percent of the pool (I, I+S, ..., B) or, for
    an absolute budget, images (N, N+M, ...)."""
    if budget.absolute is not None:
        first, step, cycles = budget.absolute
        return [float(first + c * step) for c in range(cycles)]
    return [budget.initial + c * budget.step for c in range(budget.cycles)]


def default_m(budget: BudgetConfig) -> float:
    """M of mIoU@M by default: I + 2S (the last step of a shorter budget); the last step of an
    absolute budget."""
    steps = budget_steps(budget)
    return steps[-1] if budget.absolute is not None else steps[min(PAIRED_STEP, len(steps) - 1)]


def step_index(budget: BudgetConfig, m: float) -> int:
    """The cycle whose labeled amount is the budget step ``m``; ConfigError listing the steps."""
    steps = budget_steps(budget)
    for index, step in enumerate(steps):
        if np.isclose(step, m, rtol=1e-9, atol=1e-6):
            return index
    listed = ", ".join(f"{s:g}" for s in steps)
    raise ConfigError(
        f"mIoU@{m:g} is not a step of budget {budget.label()}; its steps are {listed}"
    )


def miou_at_step(budget: BudgetConfig, mious: Sequence[float], m: float) -> float:
    """mIoU at the budget step ``m`` (ConfigError if it is none). A run's cycles are the last
    ``len(mious)`` steps of its budget (a one-shot run has only B): NaN at a step it skipped."""
    index = step_index(budget, m) - (len(budget_steps(budget)) - len(mious))
    return float(mious[index]) if index >= 0 else float("nan")
