"""Small, format-faithful dataset trees for the loader tests and end-to-end runs.

Each ``make_*_tree(root, ...)`` writes one dataset's folder layout, file names and PNG modes
under ``root`` and returns ``{split: [Written, ...]}`` (sorted by image path; VOC in list order)
with the pixels as the loader must return them. Expected masks are computed here from tables
typed in independently of the loaders. Images are smooth gradients plus noise, so PNG/JPEG
decoding costs roughly what photos do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

IGNORE = 255


@dataclass
class Written:
    """One written sample: its files, what the loader must return and its sequence/frame."""

    image_path: Path
    mask_path: Path | None
    image: np.ndarray  # uint8 HxWx3 RGB as decoded from the written file
    raw_mask: np.ndarray | None  # the values stored in the mask file (ids, indices or colours)
    expected: np.ndarray  # int64 HxW mask the loader must return
    sequence: str
    frame: int


def make_image(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A uint8 HxWx3 gradient with noise."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 200 // max(w - 1, 1), y * 200 // max(h - 1, 1), (x + y) % 200], axis=-1)
    return np.clip(base + rng.integers(0, 56, size=(h, w, 3)), 0, 255).astype(np.uint8)


def block_labels(
    rng: np.random.Generator, size: tuple[int, int], values: Sequence, must_have: bool = True
) -> np.ndarray:
    """Blocky HxW indices into ``values``; with ``must_have`` the first pixels list every value."""
    h, w = size
    block = max(1, min(h, w) // 3)
    grid = rng.integers(0, len(values), size=(-(-h // block), -(-w // block)))
    labels = grid.repeat(block, axis=0).repeat(block, axis=1)[:h, :w].copy()
    if must_have:
        if h * w < len(values):
            raise ValueError(f"size {size} too small to hold all {len(values)} values")
        labels.reshape(-1)[: len(values)] = np.arange(len(values))
    return labels


def save_png(path: Path, array: np.ndarray, palette: Sequence[int] | None = None) -> Path:
    """Write ``array`` as PNG: HxWx3 -> RGB, HxW uint8 -> L (P with ``palette``), uint16 -> I;16."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette is not None:
        img = Image.frombytes(
            "P", (array.shape[1], array.shape[0]), array.astype(np.uint8).tobytes()
        )
        img.putpalette(list(palette))
    else:
        img = Image.fromarray(array)
    img.save(path)
    return path


def save_jpeg(path: Path, image: np.ndarray) -> np.ndarray:
    """Write a JPEG and return its pixels as decoded back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=95)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _by_path(written: dict[str, list[Written]]) -> dict[str, list[Written]]:
    return {
        split: sorted(items, key=lambda w: str(w.image_path)) for split, items in written.items()
    }


# --- Cityscapes ---------------------------------------------------------------------------------

#: SPEC §7: labelId -> trainId; every other id (and 255 = -1 in uint8 files) -> 255.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
CITYSCAPES_LABEL_IDS = (*range(34), 255)
CITYSCAPES_FRAMES = {
    "train": (("aachen", 0, 19), ("aachen", 0, 20), ("bochum", 1, 5)),
    "val": (("frankfurt", 0, 7),),
}


def make_cityscapes_tree(
    root: Path,
    frames: dict[str, Sequence[tuple[str, int, int]]] | None = None,
    size: tuple[int, int] = (8, 16),
    seed: int = 0,
) -> dict[str, list[Written]]:
    """``{split: [(city, seq, frame), ...]}``; every labelId 0..33 and 255 appears in each mask."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[Written]] = {}
    for split, items in (frames or CITYSCAPES_FRAMES).items():
        for city, seq, frame in items:
            stem = f"{city}_{seq:06d}_{frame:06d}"
            image = make_image(rng, size)
            image_path = save_png(
                root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image
            )
            label_ids = np.asarray(CITYSCAPES_LABEL_IDS, dtype=np.uint8)[
                block_labels(rng, size, CITYSCAPES_LABEL_IDS)
            ]
            mask_path = save_png(
                root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids
            )
            expected = np.vectorize(lambda v: CITYSCAPES_TRAIN_IDS.get(int(v), IGNORE))(label_ids)
            written.setdefault(split, []).append(
                Written(image_path, mask_path, image, label_ids, expected.astype(np.int64),
                        f"{city}_{seq:06d}", frame)
            )  # fmt: skip
    return _by_path(written)


# --- PASCAL-VOC ---------------------------------------------------------------------------------

VOC_NAMES = {"train": ("2007_000032", "2007_000039", "2008_000008"), "val": ("2007_000033",)}


def voc_colormap() -> list[int]:
    """The 256-colour VOC palette, flat [r, g, b, r, g, b, ...]."""
    flat = []
    for index in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= ((index >> (3 * bit)) & 1) << (7 - bit)
            g |= ((index >> (3 * bit + 1)) & 1) << (7 - bit)
            b |= ((index >> (3 * bit + 2)) & 1) << (7 - bit)
        flat += [r, g, b]
    return flat


def make_voc_tree(
    root: Path,
    names: dict[str, Sequence[str]] | None = None,
    size: tuple[int, int] = (10, 12),
    seed: int = 0,
    write_lists: bool = True,
) -> dict[str, list[Written]]:
    """JPEGImages, SegmentationClassAug (L) and SegmentationClass (palette) with the same indices
    0-20 and 255, and ImageSets/Segmentation/{train_aug,train,val}.txt when ``write_lists``."""
    rng = np.random.default_rng(seed)
    values = (*range(21), IGNORE)
    written: dict[str, list[Written]] = {}
    for split, split_names in (names or VOC_NAMES).items():
        for name in split_names:
            image_path = root / "JPEGImages" / f"{name}.jpg"
            image = save_jpeg(image_path, make_image(rng, size))
            indices = np.asarray(values, dtype=np.uint8)[block_labels(rng, size, values)]
            mask_path = save_png(root / "SegmentationClassAug" / f"{name}.png", indices)
            save_png(root / "SegmentationClass" / f"{name}.png", indices, palette=voc_colormap())
            written.setdefault(split, []).append(
                Written(image_path, mask_path, image, indices, indices.astype(np.int64), name, 0)
            )
        if write_lists:
            lists = root / "ImageSets" / "Segmentation"
            lists.mkdir(parents=True, exist_ok=True)
            for list_name in ("train_aug", "train") if split == "train" else (split,):
                (lists / f"{list_name}.txt").write_text("".join(f"{n}\n" for n in split_names))
    return written  # list order, as the loader reads it


# --- A2D2 ---------------------------------------------------------------------------------------

#: A few A2D2 colours with (Cityscapes trainId, paper id), typed from the A2D2 class list. Pairs
#: whose R and B swap into another class (Traffic signal 1 / Truck 1, Dashed line / Obstacles)
#: catch BGR decoding.
A2D2_FIXTURE_COLORS = {
    (255, 0, 0): (13, 1),  # Car 1
    (0, 128, 255): (6, 5),  # Traffic signal 1
    (255, 128, 0): (14, 4),  # Truck 1
    (128, 0, 255): (0, 15),  # Dashed line
    (255, 0, 128): (255, 18),  # Obstacles / trash
    (135, 206, 255): (10, 9),  # Sky
    (241, 230, 255): (2, 10),  # Buildings
    (72, 209, 204): (255, 18),  # Ego car
    (180, 150, 200): (1, 7),  # Sidewalk
}
A2D2_UNKNOWN_COLOR = (1, 2, 3)
A2D2_VAL_SEQUENCE = "20180925_112730"
A2D2_FRAMES = {
    "20180807_145028": (91, 92, 93),
    "20181108_084007": (38301,),
    A2D2_VAL_SEQUENCE: (5,),
}


def a2d2_camera_path(root: Path, seq: str, frame: int, view: str = "front_center") -> Path:
    nodash, flat_view = seq.replace("_", ""), view.replace("_", "")
    return root / seq / "camera" / f"cam_{view}" / f"{nodash}_camera_{flat_view}_{frame:09d}.png"


def a2d2_label_path(root: Path, seq: str, frame: int, view: str = "front_center") -> Path:
    nodash, flat_view = seq.replace("_", ""), view.replace("_", "")
    return root / seq / "label" / f"cam_{view}" / f"{nodash}_label_{flat_view}_{frame:09d}.png"


def make_a2d2_tree(
    root: Path,
    frames: dict[str, Sequence[int]] | None = None,
    size: tuple[int, int] = (12, 18),
    view: str = "front_center",
    label_scheme: str = "cityscapes",
    unknown_color: tuple[int, int, int] | None = A2D2_UNKNOWN_COLOR,
    seed: int = 0,
) -> dict[str, list[Written]]:
    """``{sequence: frames}``; splits "val" (sequence 20180925_112730) and "train". Expected masks
    use ``label_scheme`` ("cityscapes" or "paper") at full size; ``unknown_color`` is drawn too."""
    rng = np.random.default_rng(seed)
    colors = list(A2D2_FIXTURE_COLORS) + ([unknown_color] if unknown_color else [])
    column = 0 if label_scheme == "cityscapes" else 1
    lookup = {c: ids[column] for c, ids in A2D2_FIXTURE_COLORS.items()}
    written: dict[str, list[Written]] = {}
    for seq, seq_frames in (frames or A2D2_FRAMES).items():
        for frame in seq_frames:
            image = make_image(rng, size)
            image_path = save_png(a2d2_camera_path(root, seq, frame, view), image)
            picks = block_labels(rng, size, colors)
            rgb = np.asarray(colors, dtype=np.uint8)[picks]
            mask_path = save_png(a2d2_label_path(root, seq, frame, view), rgb)
            expected = np.array(
                [[lookup.get(tuple(int(v) for v in px), IGNORE) for px in row] for row in rgb],
                dtype=np.int64,
            )
            split = "val" if seq == A2D2_VAL_SEQUENCE else "train"
            written.setdefault(split, []).append(
                Written(image_path, mask_path, image, rgb, expected, f"{seq}/cam_{view}", frame)
            )
    return _by_path(written)


# --- CamVid -------------------------------------------------------------------------------------

CAMVID_NAMES = {
    "train": ("0001TP_006690", "0001TP_006720", "Seq05VD_f00030"),
    "val": ("0016E5_07959",),
    "test": ("0006R0_f02910",),
}


def make_camvid_tree(
    root: Path,
    names: dict[str, Sequence[str]] | None = None,
    size: tuple[int, int] = (9, 12),
    seed: int = 0,
) -> dict[str, list[Written]]:
    """``{split}/{name}.png`` and ``{split}annot/{name}.png`` (L, values 0-11; 11 -> 255)."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[Written]] = {}
    for split, split_names in (names or CAMVID_NAMES).items():
        for name in split_names:
            image = make_image(rng, size)
            image_path = save_png(root / split / f"{name}.png", image)
            indices = block_labels(rng, size, range(12)).astype(np.uint8)
            mask_path = save_png(root / f"{split}annot" / f"{name}.png", indices)
            expected = np.where(indices == 11, IGNORE, indices).astype(np.int64)
            sequence, frame = name.rsplit("_", 1)
            written.setdefault(split, []).append(
                Written(image_path, mask_path, image, indices, expected, sequence,
                        int(frame.lstrip("f")))
            )  # fmt: skip
    return _by_path(written)


# --- folder -------------------------------------------------------------------------------------

#: Non-contiguous ids: loaded as 0 (road), 1 (car), 2 (person), in list order.
FOLDER_CLASSES = (
    {"name": "road", "id": 0, "color": [128, 64, 128]},
    {"name": "car", "id": 7, "color": [0, 0, 142]},
    {"name": "person", "id": 3, "color": [220, 20, 60]},
)
FOLDER_STEMS = {"train": ("drive_000010", "drive_000011", "solo"), "val": ("drive_000020",)}


def make_folder_tree(
    root: Path,
    stems: dict[str, Sequence[str]] | None = None,
    classes: Sequence[dict] = FOLDER_CLASSES,
    mask_kind: str = "index",
    unlabeled: Sequence[str] = ("solo",),
    ignore_color: tuple[int, int, int] | None = None,
    image_ext: str = ".png",
    size: tuple[int, int] = (8, 10),
    seed: int = 0,
) -> dict[str, list[Written]]:
    """``images/``, ``masks/``, ``val/images``, ``val/masks`` and ``classes.yaml``. ``mask_kind``:
    "index" (L), "palette" (P) or "color" (RGB; ignore pixels drawn only with ``ignore_color``).
    Stems in ``unlabeled`` get no mask."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    class_list = [dict(c) for c in classes]
    doc: object = class_list
    if ignore_color is not None:
        doc = {"classes": class_list, "ignore_color": list(ignore_color)}
    (root / "classes.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with_ignore = mask_kind != "color" or ignore_color is not None
    n_values = len(class_list) + with_ignore
    written: dict[str, list[Written]] = {}
    for split, split_stems in (stems or FOLDER_STEMS).items():
        base = root if split == "train" else root / split
        for stem in split_stems:
            image_path = base / "images" / f"{stem}{image_ext}"
            image = make_image(rng, size)
            if image_ext == ".png":
                save_png(image_path, image)
            else:
                image = save_jpeg(image_path, image)
            picks = block_labels(rng, size, range(n_values))  # last value = ignore
            expected = np.where(picks == len(class_list), IGNORE, picks).astype(np.int64)
            mask_path, raw = None, None
            if stem in unlabeled:
                expected = np.full(size, IGNORE, dtype=np.int64)
            elif mask_kind == "color":
                colors = [c["color"] for c in class_list] + (
                    [list(ignore_color)] if ignore_color else []
                )
                raw = np.asarray(colors, dtype=np.uint8)[picks]
                mask_path = save_png(base / "masks" / f"{stem}.png", raw)
            else:
                ids = [c["id"] for c in class_list] + [IGNORE]
                raw = np.asarray(ids, dtype=np.uint8 if max(ids) <= 255 else np.uint16)[picks]
                palette = voc_colormap() if mask_kind == "palette" else None
                mask_path = save_png(base / "masks" / f"{stem}.png", raw, palette=palette)
            head, _, tail = stem.rpartition("_")
            sequence, frame = (head, int(tail)) if head and tail.isdigit() else (stem, 0)
            written.setdefault(split, []).append(
                Written(image_path, mask_path, image, raw, expected, sequence, frame)
            )
    return _by_path(written)


def assert_loads(dataset, written: Sequence[Written]) -> None:
    """``dataset`` holds exactly ``written``, in order, with identical pixels and metadata."""
    assert len(dataset) == len(written)
    for index, item in enumerate(written):
        sample = dataset[index]
        assert sample.meta.path == str(item.image_path)
        assert (sample.meta.sequence, sample.meta.frame) == (item.sequence, item.frame)
        assert sample.image.dtype == np.uint8
        np.testing.assert_array_equal(sample.image, item.image)
        assert sample.mask.dtype == np.int64
        np.testing.assert_array_equal(sample.mask, item.expected)
