"""A project folder's state file (``alseg-project.json``), where its pieces live, and the lock
and clean-up that keep the folder consistent with the state."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alseg.annotation import MaskCodec
from alseg.data.folder import ClassList
from alseg.errors import ConfigError, DataError
from alseg.io import atomic_write_bytes
from alseg.project.images import ImageFolderDataset, list_images

STATE_FILE = "alseg-project.json"
STATE_FORMAT = "alseg-project"
#: Version 2: labels in generation folders, round models and quality, released images.
STATE_VERSION = 2
READABLE_VERSIONS = (1, 2)
CLASSES_FILE = "classes.yaml"
LABELS_DIR = "labels"
ROUNDS_DIR = "rounds"
LOCK_FILE = ".alseg.lock"
GENERATION_PREFIX = "gen_"


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
    """A project folder and its state (the parsed ``alseg-project.json``).

    Labels live in ``labels/gen_K/`` for the generation K the state names (version 1 projects:
    ``labels/`` itself until their first import); an import writes generation K+1 and the
    atomic state write switches to it, so a killed import leaves the old labels in force."""

    directory: Path
    state: dict[str, Any]
    cleaned: list[str] = field(default_factory=list)

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
        if state.get("version") not in READABLE_VERSIONS:
            raise DataError(
                f"{path}: project version {state.get('version')!r}; this alseg reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        if state["version"] == 1:  # labels flat in labels/ until the next import
            state.update(version=STATE_VERSION, label_generation=None)
        return cls(directory, state)

    @classmethod
    @contextmanager
    def updating(cls, directory: Path | str) -> Iterator[Project]:
        """The project, loaded under its lock (one writing command at a time) after removing
        what an interrupted command left behind (``cleaned`` lists it)."""
        directory = Path(directory)
        cls.load(directory)  # a clear error before the lock file is made
        with project_lock(directory):
            project = cls.load(directory)
            project.cleaned = project.clean_up()
            yield project

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
        """Stems sent out for annotation in a round, neither labeled since nor released."""
        sent = set()
        for record in self.rounds:
            released = set(record.get("released", []))
            sent |= {Path(name).stem for name in record["images"]} - released
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

    @property
    def labels_dir(self) -> Path:
        """The folder of the current labels generation."""
        generation = self.state.get("label_generation")
        base = self.directory / LABELS_DIR
        return base if generation is None else base / f"{GENERATION_PREFIX}{generation}"

    def label_path(self, stem: str) -> Path:
        return self.labels_dir / f"{stem}.png"

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

    def leftovers(self) -> list[Path]:
        """Files and folders an interrupted command left: label generations and round folders
        the state does not name, staging folders and temporary files."""
        found: list[Path] = []
        labels = self.directory / LABELS_DIR
        current = self.labels_dir
        if labels.is_dir():
            for entry in sorted(labels.iterdir()):
                stale_generation = entry.name.startswith(GENERATION_PREFIX) and entry != current
                flat_after_switch = current != labels and entry != current
                if stale_generation or flat_after_switch or entry.name.endswith(".tmp"):
                    found.append(entry)
        rounds = self.directory / ROUNDS_DIR
        listed = {record["folder"] for record in self.rounds}
        if rounds.is_dir():
            for entry in sorted(rounds.iterdir()):
                staged = entry.name.startswith(".round_")
                unlisted = entry.name.startswith("round_") and (
                    entry.relative_to(self.directory).as_posix() not in listed
                )
                if staged or unlisted:
                    found.append(entry)
        found += sorted(self.directory.glob(f".{STATE_FILE}.*.tmp"))
        return found

    def clean_up(self) -> list[str]:
        """Remove ``leftovers``; returns what was removed (relative to the project)."""
        removed = []
        for path in self.leftovers():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.relative_to(self.directory).as_posix())
        return removed


@contextmanager
def project_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on the project folder for the length of a writing command; a second
    writer gets a ConfigError at once instead of waiting."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): commands must not overlap
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{directory}: another alseg command is changing this project; wait for it "
                "to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
