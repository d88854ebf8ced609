"""The one file-name grammar for sequences and frames (loaders, pool lists, projects)."""

from __future__ import annotations

import pytest

from alseg.data.frames import parse_frame_path, sequence_and_frame
from alseg.errors import DataError

A2D2 = "20181108_084007/camera/cam_front_center/20181108084007_camera_frontcenter_000038301.png"


@pytest.mark.parametrize(
    ("stem", "sequence", "frame"),
    [
        ("drive_a_000123", "drive_a", 123),
        ("0001TP_006690", "0001TP", 6690),
        ("0006R0_f02910", "0006R0", 2910),
        ("0016E5_07959", "0016E5", 7959),
        ("Seq05VD_f00030", "Seq05VD", 30),
        ("aachen_000012_000019_leftImg8bit", "aachen_000012", 19),
        ("drive_1_f2", "drive_1", 2),  # two splits fit: the longer sequence wins
        ("frame123", "frame123", 0),
        ("unnumbered", "unnumbered", 0),
        ("_5", "_5", 0),
        ("drive_12_34_word_5x", "drive_12_34_word_5x", 0),
    ],
)
def test_sequence_and_frame(stem: str, sequence: str, frame: int) -> None:
    assert sequence_and_frame(stem) == (sequence, frame)


def test_pool_list_paths() -> None:
    assert parse_frame_path(A2D2) == ("20181108_084007/cam_front_center", 38301)
    label = A2D2.replace("/camera/", "/label/").replace("_camera_", "_label_")
    assert parse_frame_path("/mnt/a2d2/" + label) == ("20181108_084007/cam_front_center", 38301)
    assert parse_frame_path("train\\0001TP_006690.png") == ("0001TP", 6690)
    assert parse_frame_path("Seq05VD_f00030.png") == ("Seq05VD", 30)
    assert parse_frame_path("aachen/aachen_000012_000019_leftImg8bit.png") == (
        "aachen_000012",
        19,
    )
    with pytest.raises(DataError, match="cannot read sequence and frame"):
        parse_frame_path("images/cat.png")
