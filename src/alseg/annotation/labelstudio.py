"""Label Studio: the labeling config, tasks with the model's predictions, and JSON exports back.

Out: ``tasks.json`` (one task per picked image; ``data.image`` a local-files URL relative to the
images folder's parent) whose ``predictions`` hold the round model's mask as one ``brushlabels``
region per class, in Label Studio's brush RLE (``alseg.annotation.brush``), with the round as
``model_version`` and the mean pixel confidence as ``score``: Label Studio shows them as
pre-annotations that the annotator edits and submits.

Back (``read_export``): a project exported as JSON. A task's image URL names its file (the
``d=`` path of a local-files URL, or the URL's last path part; Label Studio's upload prefix
``1a2b3c4d-`` is dropped when the name without it is a project image). Its annotation is the
one marked ground truth, else the most recently updated one not skipped; tasks with none are
reported as not annotated, never imported from their predictions. The regions
(``brushlabels``: alpha >= 128; ``polygonlabels``: a pixel whose centre lies inside) are painted
in the order of the annotation's result list, a later region over an earlier one (Label Studio
lists regions in the order they were made, so a stroke painted over a pre-annotation wins);
pixels no region covers are unlabelled (ignore, 255).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse
from xml.sax.saxutils import quoteattr

import numpy as np

from alseg.annotation.brush import decode_mask, encode_mask
from alseg.annotation.codec import MaskCodec
from alseg.annotation.sources import Returned, ReturnedMask
from alseg.data.base import IGNORE_INDEX
from alseg.data.folder import ClassList
from alseg.errors import DataError

LOCAL_FILES = "/data/local-files/?d="
BRUSH, POLYGON, IMAGE = "brush", "polygon", "image"


def hex_color(color: tuple[int, int, int] | list[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def label_studio_config(classes: ClassList) -> str:
    """Label Studio labeling config: brush masks and polygons over the project's classes."""
    labels = "".join(
        f"    <Label value={quoteattr(n)} background={quoteattr(hex_color(c))}/>\n"
        for n, c in zip(classes.names, classes.colors, strict=True)
    )
    return (
        "<View>\n"
        f'  <Image name="{IMAGE}" value="$image" zoom="true"/>\n'
        f'  <BrushLabels name="{BRUSH}" toName="{IMAGE}">\n'
        f"{labels}"
        "  </BrushLabels>\n"
        f'  <PolygonLabels name="{POLYGON}" toName="{IMAGE}" strokeWidth="2" pointSize="small">\n'
        f"{labels}"
        "  </PolygonLabels>\n"
        "</View>\n"
    )


def local_files_url(path: Path, root: Path) -> str:
    """The local-files URL of ``path`` served from the document root ``root``."""
    return LOCAL_FILES + quote(path.relative_to(root).as_posix())


def prediction(
    indices: np.ndarray, names: tuple[str, ...], score: float, model_version: str
) -> dict[str, Any]:
    """A task prediction: one brush region per class present in ``indices`` (HxW class
    indices, 255 unlabelled)."""
    height, width = indices.shape
    result = [
        {
            "id": f"alseg-{index}",
            "from_name": BRUSH,
            "to_name": IMAGE,
            "type": "brushlabels",
            "original_width": int(width),
            "original_height": int(height),
            "image_rotation": 0,
            "value": {
                "format": "rle",
                "rle": encode_mask(indices == index),
                "brushlabels": [names[index]],
            },
        }
        for index in np.unique(indices).tolist()
        if index != IGNORE_INDEX
    ]
    return {"model_version": model_version, "score": round(float(score), 6), "result": result}


# --- exports back ---------------------------------------------------------------------------


def image_stem(url: str, stems: Collection[str]) -> str:
    """The image stem a task's image URL names (see the module docstring)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    path = query["d"][0] if "d" in query else unquote(parsed.path)
    stem = PurePosixPath(PurePosixPath(path.replace("\\", "/")).name).stem
    upload = re.fullmatch(r"[0-9a-f]{8}-(.+)", stem)
    if stem not in stems and upload and upload[1] in stems:
        return upload[1]
    return stem


def _chosen_annotation(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    truth = [a for a in done if a.get("ground_truth")]
    ranked = sorted(
        truth or done, key=lambda a: (str(a.get("updated_at") or a.get("created_at")), a.get("id"))
    )
    return ranked[-1] if ranked else None


@dataclass(frozen=True)
class _Rasterizer:
    """Paints one annotation's regions into class indices."""

    names: tuple[str, ...]
    origin: str

    def __call__(self, results: list[Any]) -> np.ndarray | None:
        indices: np.ndarray | None = None
        for number, region in enumerate(results, start=1):
            where = f"{self.origin} region {number}"
            kind = region.get("type") if isinstance(region, dict) else None
            if kind not in ("brushlabels", "polygonlabels"):
                if isinstance(kind, str) and kind.endswith("labels"):
                    raise DataError(
                        f"{where}: {kind} regions are not read; use brushlabels or "
                        "polygonlabels (the labeling config of the round's config.xml)"
                    )
                continue
            value = region.get("value") or {}
            height, width = self._size(region, where)
            if indices is None:
                indices = np.full((height, width), IGNORE_INDEX, dtype=np.int64)
            elif indices.shape != (height, width):
                raise DataError(
                    f"{where}: image size {height} x {width} differs from the task's earlier "
                    f"regions ({indices.shape[0]} x {indices.shape[1]})"
                )
            if region.get("image_rotation") or value.get("rotation"):
                raise DataError(f"{where}: rotated regions or images are not supported")
            index = self._class(value.get(kind), where)
            if kind == "brushlabels":
                if value.get("format", "rle") != "rle" or "rle" not in value:
                    raise DataError(f"{where}: brush region without an rle")
                painted = decode_mask(value["rle"], height, width, where)
            else:
                painted = polygon_mask(value.get("points"), height, width, where)
            indices[painted] = index
        return indices

    @staticmethod
    def _size(region: Mapping[str, Any], where: str) -> tuple[int, int]:
        height, width = region.get("original_height"), region.get("original_width")
        if not all(isinstance(v, int) and v > 0 for v in (height, width)):
            raise DataError(f"{where}: no original_height/original_width (image size)")
        return int(height), int(width)  # type: ignore[arg-type]

    def _class(self, labels: Any, where: str) -> int:
        if not isinstance(labels, list) or len(labels) != 1:
            raise DataError(f"{where}: a region needs exactly one label, got {labels!r}")
        if labels[0] not in self.names:
            raise DataError(
                f"{where}: label {labels[0]!r} is not a class of the project (allowed: "
                f"{', '.join(self.names)})"
            )
        return self.names.index(labels[0])


def polygon_mask(points: Any, height: int, width: int, where: str) -> np.ndarray:
    """Pixels whose centre lies inside the polygon of ``points`` ([x, y] in percent of the
    image's width and height)."""
    from matplotlib.path import Path as Polygon

    try:
        vertices = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise DataError(f"{where}: polygon points must be [x, y] pairs, got {points!r}") from None
    if len(vertices) < 3 or not np.isfinite(vertices).all():
        raise DataError(f"{where}: a polygon needs at least 3 finite points")
    vertices = vertices * [width / 100.0, height / 100.0]
    mask = np.zeros((height, width), dtype=bool)
    x0, y0 = np.clip(np.floor(vertices.min(0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(vertices.max(0)).astype(int), 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return mask
    ys, xs = np.mgrid[y0:y1, x0:x1]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    inside = Polygon(vertices).contains_points(centres)
    mask[y0:y1, x0:x1] = inside.reshape(y1 - y0, x1 - x0)
    return mask


def read_export(path: Path, classes: ClassList, stems: Collection[str]) -> Returned:
    """The annotated masks of a Label Studio JSON export (see the module docstring)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read Label Studio export ({exc})") from exc
    if not isinstance(tasks, list) or not all(
        isinstance(t, dict) and isinstance(t.get("data"), dict) and "annotations" in t
        for t in tasks
    ):
        raise DataError(
            f"{path}: not a Label Studio JSON export (a list of tasks with data and "
            "annotations: export as JSON, not JSON-MIN or CSV)"
        )
    names = tuple(MaskCodec(classes).names)
    returned = Returned([])
    for number, task in enumerate(tasks, start=1):
        label = f"task {task.get('id', f'#{number}')}"
        url = task["data"].get(IMAGE)
        if not isinstance(url, str):
            raise DataError(f"{path}: {label} has no data.image (made from another config?)")
        stem = image_stem(url, stems)
        annotation = _chosen_annotation(task)
        if annotation is None:
            returned.not_annotated.append(stem)
            continue
        results = annotation.get("result")
        if not isinstance(results, list):
            raise DataError(f"{path}: {label} annotation without a result list")
        origin = f"{path}: {label} ({PurePosixPath(unquote(url)).name})"
        rasterize = _Rasterizer(names, origin)
        returned.masks.append(ReturnedMask(stem, origin, lambda r=rasterize, x=results: r(x)))
    return returned
