"""Segmentation models."""

from alseg.models.deeplab import SegmentationModel, build_model

__all__ = ["SegmentationModel", "build_model"]
