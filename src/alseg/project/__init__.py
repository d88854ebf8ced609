"""Active learning on the user's own images: pick what to annotate, export it, import the masks.

A project folder ``DIR`` holds::

    alseg-project.json   the state: images folder, classes, labels generation, labeled images,
                         rounds (picks, model, quality estimate, released images), settings
    classes.yaml         a copy of the class list (folder-dataset format, see alseg.data.folder)
    labels/gen_K/        imported masks as index PNGs of the class ids in classes.yaml
    rounds/round_K/      one folder per selection (see ``select``), with the round's model
    predictions/         masks written by ``predict``

The images stay where they are. The state stores the images folder three ways: as given, absolute,
and relative to ``DIR``; commands look for it relative to ``DIR`` first (so a project moved
together with its images, or synced to another machine with the same layout, keeps working), then
at the absolute path. Labels, classes and rounds live inside ``DIR``. Images are keyed by file
stem, which must be unique in the images folder. Images added to the folder later join the pool.

Round trip: ``init_project`` -> ``select`` (trains the round model once images are labeled,
writes round K with its pre-annotations) -> annotate -> ``import_masks`` -> ``select`` -> ...;
``status`` tells where the project stands, ``release`` returns images that never came back to
the pool, ``predict`` applies a round's model to any images.

Consistency: every writing command holds the project's lock, first removes what an interrupted
command left (label generations and round folders the state does not name, staging folders,
temporary files), and writes the state file last and atomically (temporary file + rename),
after everything else it produces is complete: the state is the commit point, so an interrupted
command leaves the previous state, and the files it names, in force.
"""

from __future__ import annotations

from alseg.project.images import ImageFolderDataset, default_working_size, list_images
from alseg.project.masks import ImportResult, import_masks, init_project
from alseg.project.model import RoundModel
from alseg.project.predict import PredictResult, predict
from alseg.project.select import RoundResult, select, untrained_strategies
from alseg.project.state import STATE_FILE, Project
from alseg.project.status import release, status

__all__ = [
    "STATE_FILE",
    "ImageFolderDataset",
    "ImportResult",
    "PredictResult",
    "Project",
    "RoundModel",
    "RoundResult",
    "default_working_size",
    "import_masks",
    "init_project",
    "list_images",
    "predict",
    "release",
    "select",
    "status",
    "untrained_strategies",
]
