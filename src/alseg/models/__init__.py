"""Segmentation models: the protocol the loop needs, DeepLabv3+, a wrapper for plain networks."""

from alseg.models.deeplab import DeepLabV3Plus, build_model
from alseg.models.plain import PlainSegmentationModel
from alseg.models.protocol import ModelOutput, SegmentationModel

__all__ = [
    "DeepLabV3Plus",
    "ModelOutput",
    "PlainSegmentationModel",
    "SegmentationModel",
    "build_model",
]
