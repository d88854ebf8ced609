"""Segmentation metrics: confusion matrix, IoU, mIoU and the area under the budget curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch


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
