"""What goes to and comes back from annotation tools.

Out, per round (``exports``): a manifest (CSV and JSON), a CVAT task (label specification with
the class colours, image list, task JSON and, once a model exists, a "Segmentation mask 1.1" zip
of its predictions), a Label Studio project (tasks JSON with local-file URLs and the model's
predictions as brush pre-annotations, a labeling config with brush and polygon labels) and an
HTML contact sheet with thumbnails.

Back (``sources``): masks as PNGs, read by the project's class list (``MaskCodec``):
single-channel images hold class ids, RGB(A) images class colours. A CVAT "Segmentation mask
1.1" export (folder or .zip) is read from its SegmentationClass/ folder, its colours mapped to the
classes by the label names of its labelmap.txt; the "background" CVAT paints unannotated pixels
with reads as ignore unless a class is named background. A Label Studio JSON export is read by
``labelstudio.read_export`` (brush RLE from ``brush``, polygons rasterised).
"""

from __future__ import annotations

from alseg.annotation.codec import MaskCodec, png_bytes, save_id_png, write_synced
from alseg.annotation.exports import (
    CVAT_FORMAT,
    Pick,
    Prediction,
    Predictions,
    cvat_labelmap,
    cvat_labels,
    write_contact_sheet,
    write_cvat,
    write_label_studio,
    write_manifest,
)
from alseg.annotation.labelstudio import label_studio_config
from alseg.annotation.sources import Returned, ReturnedMask, parse_labelmap, returned_masks

__all__ = [
    "CVAT_FORMAT",
    "MaskCodec",
    "Pick",
    "Prediction",
    "Predictions",
    "Returned",
    "ReturnedMask",
    "cvat_labelmap",
    "cvat_labels",
    "label_studio_config",
    "parse_labelmap",
    "png_bytes",
    "returned_masks",
    "save_id_png",
    "write_contact_sheet",
    "write_cvat",
    "write_label_studio",
    "write_manifest",
    "write_synced",
]
