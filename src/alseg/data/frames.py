"""Sequence and frame number from a file name: the one grammar every loader and pool list uses.

A stem ``<sequence>_<frame>`` names frame ``<frame>`` of video ``<sequence>``:

- ``<frame>`` is digits, optionally after one letter (``0001TP_006690``, ``Seq05VD_f00030``);
- one trailing word that starts with a letter may follow (``aachen_000012_000019_leftImg8bit``);
- ``<sequence>`` is everything before, at least one character; when two splits fit, the longer
  sequence wins (``drive_1_f2`` is frame 2 of ``drive_1``).

A2D2 paths ``{drive}/camera/cam_{view}/{drivenodash}_camera_{view}_{frame}.png`` (or ``label``)
are sequence ``{drive}/cam_{view}``: each camera is its own video.
"""

from __future__ import annotations

import posixpath
import re

from alseg.errors import DataError

_A2D2_PATH = re.compile(
    r"(?:^|/)(?P<drive>\d{8}_\d{6})/(?:camera|label)/cam_(?P<view>[a-z_]+)/"
    r"\d{14}_(?:camera|label)_[a-z]+_(?P<frame>\d+)\.[A-Za-z]+$"
)
_STEM = re.compile(r"(?P<sequence>.+)_[A-Za-z]?(?P<frame>[0-9]+)(?:_[A-Za-z][A-Za-z0-9]*)?")


def sequence_and_frame(stem: str) -> tuple[str, int]:
    """(sequence, frame) of a ``<sequence>_<frame>`` stem; any other name is its own sequence,
    frame 0."""
    return _parse_stem(stem) or (stem, 0)


def parse_frame_path(path: str) -> tuple[str, int]:
    """(sequence, frame) of a pool-list path: an A2D2 path or a ``<sequence>_<frame>`` file name;
    DataError for any other name."""
    normal = path.strip().replace("\\", "/")
    match = _A2D2_PATH.search(normal)
    if match:
        return f"{match['drive']}/cam_{match['view']}", int(match["frame"])
    parsed = _parse_stem(posixpath.splitext(posixpath.basename(normal))[0])
    if parsed is None:
        raise DataError(
            f"cannot read sequence and frame from {path!r}; expected an A2D2 name "
            "({drive}/camera/cam_{view}/..._{frame}.png) or <sequence>_<frame digits>"
        )
    return parsed


def _parse_stem(stem: str) -> tuple[str, int] | None:
    match = _STEM.fullmatch(stem)
    return (match["sequence"], int(match["frame"])) if match else None
