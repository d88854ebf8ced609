"""What goes to and comes back from annotation tools.

Out: per round, a manifest (CSV and JSON), a CVAT task (label specification with the class
colours, image list, task JSON), a Label Studio project (tasks JSON with local-file URLs, a
labeling config with brush and polygon labels) and an HTML contact sheet with thumbnails.

Back: masks as PNGs, read by the project's class list (``MaskCodec``): single-channel images hold
class ids, RGB(A) images class colours. A CVAT "Segmentation mask 1.1" export (folder or .zip) is
read from its SegmentationClass/ folder; CVAT paints unannotated pixels with the "background"
colour of its labelmap.txt (black), which reads as ignore unless a class is named background.
"""

from __future__ import annotations

import csv
import html
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image

from alseg.data.base import IGNORE_INDEX
from alseg.data.folder import ClassList, id_lookup, map_ids
from alseg.data.imageio import (
    COLOR_MODES,
    INDEX_MODES,
    ColorTable,
    list_files,
    open_image,
    read_rgb,
    unknown_colors,
)
from alseg.errors import DataError
from alseg.io import atomic_write_bytes

if TYPE_CHECKING:
    from alseg.advise import Advice

THUMBNAIL_SIZE = (256, 256)

# --- masks ---------------------------------------------------------------------------------------


class MaskCodec:
    """Masks by the class list: colour or id PNGs -> class indices 0..C-1 (255 ignore) and back.
    ``extra_ignore`` colours (other than class colours) also read as ignore."""

    def __init__(
        self, classes: ClassList, extra_ignore: Sequence[tuple[int, int, int]] = ()
    ) -> None:
        self.names = tuple(classes.names)
        self.ids = tuple(classes.ids)
        self.colors = tuple(classes.colors)
        self.lut = id_lookup(self.ids)
        colors, values = list(classes.colors), list(range(len(classes.colors)))
        for color in (classes.ignore_color, *extra_ignore):
            if color is not None and color not in colors:
                colors.append(color)
                values.append(IGNORE_INDEX)
        self.table = ColorTable(colors, values)
        self.id_values = np.asarray([*self.ids, IGNORE_INDEX], dtype=np.int64)
        self.id_dtype = np.uint8 if max(self.ids) <= 255 else np.uint16

    def decode(self, path: Path) -> np.ndarray:
        """Class indices (int64 HxW) of a mask file; DataError for unknown ids, colours, modes."""
        return self.decode_image(open_image(path), path)

    def decode_image(self, img: Image.Image, path: Path) -> np.ndarray:
        if img.mode in COLOR_MODES:
            rgb = np.asarray(img)[..., :3]
            indices, unknown = self.table.decode(rgb)
            if unknown.any():
                colors = [list(c) for c in list(unknown_colors(rgb, unknown))[:5]]
                raise DataError(
                    f"{path}: colours {colors} are not in the class list (allowed: "
                    f"{[list(c) for c in self.colors]}; unlabelled pixels need an ignore_color)"
                )
            return indices
        if img.mode not in INDEX_MODES:
            raise DataError(
                f"{path}: mask mode {img.mode} is neither a class-id image (L, P, I;16) nor a "
                "colour image (RGB, RGBA)"
            )
        raw = np.asarray(img).astype(np.int64)
        allowed = f"the class list (allowed: {sorted(self.ids)}"
        return map_ids(raw, self.lut, f"{path}: class ids", allowed)

    def encode(self, indices: np.ndarray) -> np.ndarray:
        """Class ids of classes.yaml (uint8, or uint16 when an id exceeds 255) for indices."""
        positions = np.where(indices == IGNORE_INDEX, len(self.ids), indices)
        return self.id_values[positions].astype(self.id_dtype)


def save_id_png(path: Path, ids: np.ndarray) -> None:
    """Write class ids as a single-channel PNG (L, or I;16 for uint16), atomically."""
    buffer = io.BytesIO()
    Image.fromarray(ids).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


# --- returned masks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskSource:
    """Mask files to import and, for a CVAT export, the colour its labelmap.txt gives the
    "background" it paints unannotated pixels with."""

    files: list[Path]
    background: tuple[int, int, int] | None = None

    def codec(self, classes: ClassList) -> MaskCodec:
        """The codec for these masks: CVAT's background reads as ignore unless it is a class."""
        if self.background is None or "background" in classes.names:
            return MaskCodec(classes)
        return MaskCodec(classes, extra_ignore=[self.background])


def parse_labelmap(text: str, source: Path) -> dict[str, tuple[int, int, int]]:
    """Colours of a CVAT/VOC ``labelmap.txt`` (``name:r,g,b:parts:actions`` lines)."""
    colors = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        try:
            rgb = tuple(int(v) for v in parts[1].split(","))
        except (IndexError, ValueError):
            raise DataError(f"{source}: bad labelmap line {line!r}") from None
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise DataError(f"{source}: bad colour in labelmap line {line!r}")
        colors[parts[0]] = (rgb[0], rgb[1], rgb[2])
    return colors


def _background(labelmap: Path) -> tuple[int, int, int] | None:
    if not labelmap.is_file():
        return None
    return parse_labelmap(labelmap.read_text(encoding="utf-8"), labelmap).get("background")


@contextmanager
def no_masks() -> Iterator[MaskSource]:
    yield MaskSource([])


@contextmanager
def mask_source(source: Path) -> Iterator[MaskSource]:
    """PNG masks of a file, a folder (its ``SegmentationClass/`` subfolder when present, as in a
    CVAT "Segmentation mask" export) or a .zip of either, extracted to a temporary folder."""
    if source.is_file() and source.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="alseg-masks-") as temporary:
            yield _extract_zip_masks(source, Path(temporary))
        return
    if source.is_file():
        if source.suffix.lower() != ".png":
            raise DataError(f"{source}: masks must be .png files (or a folder or .zip of them)")
        yield MaskSource([source])
        return
    if not source.is_dir():
        raise DataError(f"masks {source} not found (give a .png, a folder or a .zip)")
    folder = source / "SegmentationClass" if (source / "SegmentationClass").is_dir() else source
    files = list_files(folder, (".png",))
    if not files:
        raise DataError(f"no .png masks in {folder}")
    yield MaskSource(files, _background(source / "labelmap.txt"))


def _extract_zip_masks(archive: Path, target: Path) -> MaskSource:
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = [n for n in bundle.namelist() if n.lower().endswith(".png")]
            in_class = [n for n in names if "SegmentationClass/" in n]
            chosen = in_class or [n for n in names if "/" not in n]
            if not chosen:
                raise DataError(
                    f"{archive}: no .png masks at the top level or in SegmentationClass/"
                )
            files = []
            for name in chosen:
                path = target / Path(name).name
                if path.exists():
                    raise DataError(f"{archive}: two masks named {path.name}")
                path.write_bytes(bundle.read(name))
                files.append(path)
            labelmap = target / "labelmap.txt"
            if "labelmap.txt" in bundle.namelist():
                labelmap.write_bytes(bundle.read("labelmap.txt"))
            return MaskSource(sorted(files), _background(labelmap))
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a readable .zip ({exc})") from exc


# --- exports ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """One selected image: its rank (1 = first pick), file, score (None when the strategy has
    none) and why it was picked."""

    rank: int
    image: str
    path: str
    score: float | None
    reason: str

    def to_dict(self, strategy: str) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "image": self.image,
            "path": self.path,
            "score": self.score,
            "strategy": strategy,
            "reason": self.reason,
        }


def write_manifest(
    folder: Path,
    round_number: int,
    created: str,
    strategy: str,
    picks: list[Pick],
    advice: Advice | None,
    note: str,
) -> None:
    """manifest.csv (rank, image, path, score, strategy, reason) and manifest.json (the same
    rows plus the round, the guide's advice and its explanation)."""
    rows = [p.to_dict(strategy) for p in picks]
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {**row, "score": "" if row["score"] is None else row["score"]} for row in rows
        )
    manifest = {
        "round": round_number,
        "created": created,
        "strategy": strategy,
        "note": note,
        "advice": advice.to_dict() if advice else None,
        "explanation": advice.render() if advice else None,
        "images": rows,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def cvat_labels(classes: ClassList) -> list[dict[str, Any]]:
    """CVAT label specification (task creation ``labels``): name, colour, no attributes."""
    return [
        {"name": name, "color": _hex(color), "attributes": []}
        for name, color in zip(classes.names, classes.colors, strict=True)
    ]


def write_cvat(
    folder: Path, name: str, classes: ClassList, picks: list[Pick], project_dir: Path
) -> None:
    folder.mkdir()
    labels = cvat_labels(classes)
    paths = [p.path for p in picks]
    (folder / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    (folder / "images.txt").write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    task = {"name": name, "labels": labels, "sorting_method": "predefined", "images": paths}
    (folder / "task.json").write_text(json.dumps(task, indent=2) + "\n", encoding="utf-8")
    (folder / "README.txt").write_text(
        "CVAT task for this round\n"
        "========================\n"
        "Create it in the web UI (name and labels from task.json: use Raw and paste labels.json;\n"
        "add the images listed in images.txt, sorting method 'predefined' keeps the rank order),\n"
        "or with the CVAT command line client:\n\n"
        "  cvat-cli task create --labels labels.json --sorting-method predefined \\\n"
        f'      "{name}" local $(cat images.txt)\n\n'
        "When done: Export task dataset -> format 'Segmentation mask 1.1', then\n\n"
        f"  alseg import {project_dir} --masks the-export.zip\n\n"
        "Its SegmentationClass/ masks are matched to the images by file name; the black\n"
        "'background' CVAT paints unannotated pixels with is read as ignore (unlabelled).\n",
        encoding="utf-8",
    )


def label_studio_config(classes: ClassList) -> str:
    """Label Studio labeling config: brush masks and polygons over the project's classes."""
    labels = "".join(
        f"    <Label value={quoteattr(n)} background={quoteattr(_hex(c))}/>\n"
        for n, c in zip(classes.names, classes.colors, strict=True)
    )
    return (
        "<View>\n"
        '  <Image name="image" value="$image" zoom="true"/>\n'
        '  <BrushLabels name="brush" toName="image">\n'
        f"{labels}"
        "  </BrushLabels>\n"
        '  <PolygonLabels name="polygon" toName="image" strokeWidth="2" pointSize="small">\n'
        f"{labels}"
        "  </PolygonLabels>\n"
        "</View>\n"
    )


def write_label_studio(
    folder: Path, images_dir: Path, classes: ClassList, picks: list[Pick], project_dir: Path
) -> None:
    folder.mkdir()
    root = images_dir.resolve().parent
    tasks = [
        {
            "data": {
                "image": "/data/local-files/?d=" + quote(Path(p.path).relative_to(root).as_posix()),
                "rank": p.rank,
                "score": p.score,
                "reason": p.reason,
            }
        }
        for p in picks
    ]
    (folder / "tasks.json").write_text(json.dumps(tasks, indent=2) + "\n", encoding="utf-8")
    (folder / "config.xml").write_text(label_studio_config(classes), encoding="utf-8")
    (folder / "README.txt").write_text(
        "Label Studio project for this round\n"
        "===================================\n"
        "Start Label Studio with local files served from the images folder's parent:\n\n"
        "  LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \\\n"
        f"  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root} label-studio start\n\n"
        "Create a project, paste config.xml as its labeling interface (Code view), add a\n"
        f"Local Files source storage with path {images_dir.resolve()} (no need to sync), then\n"
        "import tasks.json.\n\n"
        "Label Studio exports brush masks as RLE; convert them to one PNG per image named like\n"
        "the image (class colours of classes.yaml, or class ids), then\n\n"
        f"  alseg import {project_dir} --masks FOLDER\n",
        encoding="utf-8",
    )


def write_contact_sheet(folder: Path, title: str, strategy: str, picks: list[Pick]) -> None:
    thumbs = folder / "thumbs"
    thumbs.mkdir()
    cells = []
    for pick in picks:
        thumb = Image.fromarray(read_rgb(Path(pick.path)))
        thumb.thumbnail(THUMBNAIL_SIZE)
        name = f"{pick.rank:04d}_{Path(pick.image).stem}.jpg"
        thumb.save(thumbs / name, quality=85)
        score = "&ndash;" if pick.score is None else f"{pick.score:.4g}"
        cells.append(
            "<figure>"
            f'<img src="thumbs/{quote(name)}" alt="{html.escape(pick.image)}">'
            f"<figcaption><b>#{pick.rank}</b> {html.escape(pick.image)}<br>"
            f"score {score}<br><small>{html.escape(pick.reason)}</small></figcaption>"
            "</figure>"
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}"
        "main{display:flex;flex-wrap:wrap;gap:12px}"
        "figure{width:260px;margin:0}img{max-width:256px;max-height:256px}"
        "figcaption{font-size:13px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(picks)} images picked by {html.escape(strategy)}, in rank order.</p>"
        f"<main>{''.join(cells)}</main></body></html>\n"
    )
    (folder / "contact_sheet.html").write_text(page, encoding="utf-8")
