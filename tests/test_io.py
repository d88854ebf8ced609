"""Atomic writes: parents are created, targets replaced whole, no temporary file left behind."""

from __future__ import annotations

import pytest

from alseg.io import atomic_write_bytes, atomic_write_text


def test_writes_into_new_folders_and_replaces_the_old_content(tmp_path):
    path = tmp_path / "a" / "b" / "out.bin"
    atomic_write_bytes(path, b"first version")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


def test_text_is_utf8(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write_text(path, "Straße ✓\n")
    assert path.read_bytes() == "Straße ✓\n".encode()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "kept")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
