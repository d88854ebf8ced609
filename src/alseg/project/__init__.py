"""Active learning on the user's own images: pick what to annotate, export it, import the masks.

A project folder ``DIR`` holds::

    alseg-project.json   the state: images folder, classes, labeled images, rounds, settings
    classes.yaml         a copy of the class list (folder-dataset format, see alseg.data.folder)
    labels/{stem}.png    imported masks as index PNGs of the class ids in classes.yaml
    rounds/round_K/      one folder per selection (see ``select``)

The images stay where they are. The state stores the images folder three ways: as given, absolute,
and relative to ``DIR``; commands look for it relative to ``DIR`` first (so a project moved
together with its images, or synced to another machine with the same layout, keeps working), then
at the absolute path. Labels, classes and rounds live inside ``DIR``. Images are keyed by file
stem, which must be unique in the images folder. Images added to the folder later join the pool.

Round trip: ``init_project`` -> ``select`` (writes round K) -> annotate -> ``import_masks`` ->
``select`` (trains on the labeled images) -> ... Every command writes the state file last and
atomically (temporary file + rename), after everything else it produces is complete, so an
interrupted command leaves the previous state in force.
"""

from __future__ import annotations

from alseg.project.images import ImageFolderDataset, default_working_size, list_images
from alseg.project.masks import ImportResult, import_masks, init_project
from alseg.project.select import RoundResult, select, untrained_strategies
from alseg.project.state import STATE_FILE, Project

__all__ = [
    "STATE_FILE",
    "ImageFolderDataset",
    "ImportResult",
    "Project",
    "RoundResult",
    "default_working_size",
    "import_masks",
    "init_project",
    "list_images",
    "select",
    "untrained_strategies",
]
