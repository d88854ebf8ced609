"""Datasets, pools and transforms."""

from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.registry import available_datasets, create_dataset

__all__ = ["FrameMeta", "Sample", "SegDataset", "available_datasets", "create_dataset"]
