"""Writing a new generation of a project's labels and validating returned masks into it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alseg.annotation import MaskCodec, Returned, png_bytes, write_synced
from alseg.data.base import IGNORE_INDEX
from alseg.errors import DataError
from alseg.project.images import image_size
from alseg.project.state import GENERATION_PREFIX, LABELS_DIR, Project


class LabelGeneration:
    """``labels/gen_{K+1}/`` beside the current generation K: masks are written into it, the
    unchanged labels hard-linked (or copied) in by ``commit``, which then names it in the state
    (in memory; the caller's atomic state write makes it current)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.number = (project.state.get("label_generation") or 0) + 1
        self.folder = project.directory / LABELS_DIR / f"{GENERATION_PREFIX}{self.number}"
        if self.folder.exists():  # left by an interrupted command of a project without state
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.written: set[str] = set()

    def write(self, stem: str, ids: np.ndarray) -> None:
        write_synced(self.folder / f"{stem}.png", png_bytes(ids))
        self.written.add(stem)

    def commit(self, keep: Iterable[str]) -> None:
        """Bring the labels of ``keep`` not written here over from the current generation and
        make this generation the state's."""
        for stem in sorted(set(keep) - self.written):
            source, target = self.project.label_path(stem), self.folder / f"{stem}.png"
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
        _sync_folder(self.folder)
        self.project.state["label_generation"] = self.number

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk (where the platform allows opening folders)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@dataclass
class Accepted:
    """Stems written to the new generation, stems skipped (no labelled pixel) and the images
    of annotation tasks nobody annotated."""

    stems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_annotated: list[str] = field(default_factory=list)


def validate_into(
    returned: Returned, images: dict[str, Path], codec: MaskCodec, target: LabelGeneration
) -> Accepted:
    """Check every mask (an image of its stem, its size, known ids/colours/labels) and write the
    good ones into ``target`` while none is bad; raise one DataError naming the first bad mask
    (and how many more) after reading them all. Masks without a labelled pixel are skipped."""
    problems: list[str] = []
    accepted = Accepted(not_annotated=list(returned.not_annotated))
    seen: dict[str, str] = {}
    for mask in returned.masks:
        stem = mask.stem
        if stem in seen:
            problems.append(f"{mask.origin}: a second mask for image {stem!r} (also {seen[stem]})")
            continue
        seen[stem] = mask.origin
        if stem not in images:
            problems.append(f"{mask.origin}: no image named {stem!r} in the images folder")
            continue
        try:
            indices = mask.read()
            if indices is not None:
                height, width = image_size(images[stem])
                if indices.shape != (height, width):
                    raise DataError(
                        f"{mask.origin}: size {indices.shape[0]} x {indices.shape[1]} (H x W) "
                        f"differs from its image {images[stem].name} ({height} x {width})"
                    )
        except DataError as error:
            problems.append(str(error))
            continue
        if indices is None or (indices == IGNORE_INDEX).all():
            accepted.skipped.append(stem)
        elif not problems:
            target.write(stem, codec.encode(indices))
            accepted.stems.append(stem)
    if problems:
        more = f" (and {len(problems) - 1} more bad masks)" if len(problems) > 1 else ""
        raise DataError(f"{problems[0]}{more}; nothing imported")
    return accepted
