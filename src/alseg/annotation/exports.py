"""What goes out each round: manifest, CVAT task, Label Studio project, contact sheet."""

from __future__ import annotations

import csv
import html
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from PIL import Image

from alseg.annotation.codec import MaskCodec, png_bytes
from alseg.annotation.labelstudio import (
    hex_color,
    label_studio_config,
    local_files_url,
    prediction,
)
from alseg.annotation.sources import CLASS_FOLDER, LABELMAP
from alseg.data.folder import ClassList
from alseg.data.imageio import read_rgb

if TYPE_CHECKING:
    from alseg.advise import Advice

THUMBNAIL_SIZE = (256, 256)
#: The annotation format CVAT reads the predictions zip with.
CVAT_FORMAT = "Segmentation mask 1.1"


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


@dataclass(frozen=True)
class Prediction:
    """The round model's mask of a picked image (a PNG of classes.yaml ids at the image's size)
    and its confidence (mean over pixels of the top class probability)."""

    ids: Path
    confidence: float


@dataclass(frozen=True)
class Predictions:
    """The predictions of a round's picks (by image file name) and the model that made them."""

    by_image: Mapping[str, Prediction]
    model_version: str
    codec: MaskCodec


def write_manifest(
    folder: Path,
    round_number: int,
    created: str,
    strategy: str,
    picks: list[Pick],
    advice: Advice | None,
    note: str,
    model: Mapping[str, Any] | None = None,
) -> None:
    """manifest.csv (rank, image, path, score, strategy, reason) and manifest.json (the same
    rows plus the round, the guide's advice and its explanation, and the round model)."""
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
        "model": model,
        "images": rows,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def cvat_labels(classes: ClassList) -> list[dict[str, Any]]:
    """CVAT label specification (task creation ``labels``): name, colour, no attributes."""
    return [
        {"name": name, "color": hex_color(color), "attributes": []}
        for name, color in zip(classes.names, classes.colors, strict=True)
    ]


def cvat_labelmap(classes: ClassList) -> str:
    """labelmap.txt of a Segmentation mask export: "background" (black, or the first grey no
    class uses) for unannotated pixels, then the classes by name with their colours."""
    used = set(classes.colors)
    background = next((g, g, g) for g in range(256) if (g, g, g) not in used)
    lines = ["# label:color_rgb:parts:actions"]
    if "background" not in classes.names:
        lines.append("background:{},{},{}::".format(*background))
    colors = zip(classes.names, classes.colors, strict=True)
    lines += [f"{name}:{r},{g},{b}::" for name, (r, g, b) in colors]
    return "\n".join(lines) + "\n"


def write_cvat_predictions(
    path: Path, classes: ClassList, picks: list[Pick], predictions: Predictions
) -> None:
    """A "Segmentation mask 1.1" zip of the predicted masks (class colours, by image name)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(LABELMAP, cvat_labelmap(classes))
        stems = []
        for pick in picks:
            stem = Path(pick.image).stem
            indices = predictions.codec.decode(predictions.by_image[pick.image].ids)
            colours = png_bytes(predictions.codec.paint(indices))
            bundle.writestr(f"{CLASS_FOLDER}/{stem}.png", colours)
            stems.append(stem)
        bundle.writestr("ImageSets/Segmentation/default.txt", "".join(f"{s}\n" for s in stems))


def write_cvat(
    folder: Path,
    name: str,
    classes: ClassList,
    picks: list[Pick],
    project_dir: Path,
    predictions: Predictions | None = None,
) -> None:
    """labels.json, images.txt, task.json, README.txt and, with a model, predictions.zip."""
    folder.mkdir()
    labels = cvat_labels(classes)
    paths = [p.path for p in picks]
    (folder / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    (folder / "images.txt").write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    task = {"name": name, "labels": labels, "sorting_method": "predefined", "images": paths}
    (folder / "task.json").write_text(json.dumps(task, indent=2) + "\n", encoding="utf-8")
    pre = ""
    if predictions is not None:
        write_cvat_predictions(folder / "predictions.zip", classes, picks, predictions)
        pre = f' \\\n      --annotation_path predictions.zip --annotation_format "{CVAT_FORMAT}"'
    notes = (
        "predictions.zip holds the round model's masks (format 'Segmentation mask 1.1', colours\n"
        "mapped to the labels by the names in its labelmap.txt): with it the task opens with\n"
        "them as pre-annotations to correct.\n\n"
        if predictions is not None
        else ""
    )
    (folder / "README.txt").write_text(
        "CVAT task for this round\n"
        "========================\n"
        "Create it with the CVAT command line client (from this folder):\n\n"
        "  cvat-cli task create --labels labels.json --sorting-method predefined"
        f'{pre} \\\n      "{name}" local $(cat images.txt)\n\n'
        f"{notes}"
        "or in the web UI (name and labels from task.json: use Raw and paste labels.json; add\n"
        "the images listed in images.txt, sorting method 'predefined' keeps the rank order;\n"
        "then Actions > Upload annotations > 'Segmentation mask 1.1' > predictions.zip).\n\n"
        "When done: Export task dataset -> format 'Segmentation mask 1.1', then\n\n"
        f"  alseg import {project_dir} --masks the-export.zip\n\n"
        "Its SegmentationClass/ masks are matched to the images by file name and their colours\n"
        "to the project's classes by the label names in its labelmap.txt; 'background' (the\n"
        "colour CVAT paints unannotated pixels with) is read as ignore (unlabelled).\n",
        encoding="utf-8",
    )


def label_studio_tasks(
    picks: list[Pick], root: Path, predictions: Predictions | None
) -> list[dict[str, Any]]:
    """One task per pick (rank order), with the model's prediction when there is one."""
    tasks = []
    for pick in picks:
        task: dict[str, Any] = {
            "data": {
                "image": local_files_url(Path(pick.path), root),
                "rank": pick.rank,
                "score": pick.score,
                "reason": pick.reason,
            }
        }
        if predictions is not None:
            made = predictions.by_image[pick.image]
            indices = predictions.codec.decode(made.ids)
            task["predictions"] = [
                prediction(
                    indices, predictions.codec.names, made.confidence, predictions.model_version
                )
            ]
        tasks.append(task)
    return tasks


def write_label_studio(
    folder: Path,
    images_dir: Path,
    classes: ClassList,
    picks: list[Pick],
    project_dir: Path,
    predictions: Predictions | None = None,
) -> None:
    """tasks.json (with pre-annotations when there are predictions), config.xml, README.txt."""
    folder.mkdir()
    root = images_dir.resolve().parent
    tasks = label_studio_tasks(picks, root, predictions)
    (folder / "tasks.json").write_text(json.dumps(tasks) + "\n", encoding="utf-8")
    (folder / "config.xml").write_text(label_studio_config(classes), encoding="utf-8")
    pre = (
        "Each task carries the round model's mask as a prediction: open it, correct the\n"
        "regions (paint over them or erase), submit.\n\n"
        if predictions is not None
        else ""
    )
    (folder / "README.txt").write_text(
        "Label Studio project for this round\n"
        "===================================\n"
        "Start Label Studio with local files served from the images folder's parent:\n\n"
        "  LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \\\n"
        f"  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root} label-studio start\n\n"
        "Create a project, paste config.xml as its labeling interface (Code view), add a\n"
        f"Local Files source storage with path {images_dir.resolve()} (no need to sync), then\n"
        "import tasks.json.\n\n"
        f"{pre}"
        "When done: Export -> JSON, then\n\n"
        f"  alseg import {project_dir} --masks the-export.json\n\n"
        "Brush and polygon regions are painted in the order Label Studio lists them (a later\n"
        "region over an earlier one); pixels no region covers stay unlabelled.\n",
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
