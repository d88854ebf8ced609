"""Datasets, pools and transforms."""

from alseg.data.base import FrameMeta, Sample, SegDataset
from alseg.data.registry import create_dataset, list_datasets, register_dataset

__all__ = [
    "FrameMeta",
    "Sample",
    "SegDataset",
    "create_dataset",
    "list_datasets",
    "register_dataset",
]
