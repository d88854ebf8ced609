"""A project folder's state file (``alseg-project.json``) and where its pieces live."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alseg.annotation import MaskCodec
from alseg.data.folder import ClassList
from alseg.errors import DataError
from alseg.io import atomic_write_bytes
from alseg.project.images import ImageFolderDataset, list_images

STATE_FILE = "alseg-project.json"
STATE_FORMAT = "alseg-project"
STATE_VERSION = 1
CLASSES_FILE = "classes.yaml"
LABELS_DIR = "labels"
ROUNDS_DIR = "rounds"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def path_record(path: Path, given: str, directory: Path) -> dict[str, str | None]:
    absolute = path.resolve()
    try:
        relative: str | None = Path(os.path.relpath(absolute, directory.resolve())).as_posix()
    except ValueError:  # another drive (Windows): absolute path only
        relative = None
    return {"given": given, "absolute": str(absolute), "relative": relative}


@dataclass
class Project:
    """A project folder and its state (the parsed ``alseg-project.json``)."""

    directory: Path
    state: dict[str, Any]

    @classmethod
    def load(cls, directory: Path | str) -> Project:
        directory = Path(directory)
        path = directory / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"{directory} is not an alseg project (no {STATE_FILE}); create it with init"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: cannot read project state ({exc})") from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise DataError(f"{path}: not an alseg project state file")
        if state.get("version") != STATE_VERSION:
            raise DataError(
                f"{path}: project version {state.get('version')!r}; this alseg reads "
                f"version {STATE_VERSION}"
            )
        return cls(directory, state)

    def save(self) -> None:
        text = json.dumps(self.state, indent=2, sort_keys=False) + "\n"
        atomic_write_bytes(self.directory / STATE_FILE, text.encode("utf-8"))

    @property
    def settings(self) -> dict[str, Any]:
        return self.state["settings"]

    @property
    def labeled(self) -> set[str]:
        return set(self.state["labeled"])

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return self.state["rounds"]

    @property
    def pending(self) -> set[str]:
        """Stems sent out for annotation in a round and not labeled since."""
        sent = {Path(name).stem for r in self.rounds for name in r["images"]}
        return sent - self.labeled

    @property
    def images_dir(self) -> Path:
        """The images folder: relative to the project first, then absolute, then as given."""
        record = self.state["images"]
        tried = []
        if record.get("relative"):
            tried.append(self.directory / record["relative"])
        tried += [Path(record["absolute"]), Path(record["given"])]
        for candidate in tried:
            if candidate.is_dir():
                return candidate
        raise DataError(
            f"images folder of project {self.directory} not found (tried "
            f"{', '.join(str(p) for p in dict.fromkeys(tried))}); move it back or fix "
            f"'images' in {STATE_FILE}"
        )

    def class_list(self) -> ClassList:
        return ClassList(self.directory / CLASSES_FILE)

    def codec(self) -> MaskCodec:
        return MaskCodec(self.class_list())

    def label_path(self, stem: str) -> Path:
        return self.directory / LABELS_DIR / f"{stem}.png"

    def dataset(self) -> ImageFolderDataset:
        """Every image of the images folder, with masks for the labeled ones."""
        images = list_images(self.images_dir)
        stems = {p.stem for p in images}
        missing = sorted(self.labeled - stems)
        if missing:
            raise DataError(
                f"labeled image {missing[0]!r} is no longer in {self.images_dir} "
                f"({len(missing)} missing); put it back or start a new project"
            )
        masks = {stem: self.label_path(stem) for stem in self.labeled}
        return ImageFolderDataset(images, self.images_dir, self.codec(), masks)
