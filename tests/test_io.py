"""Atomic writes: parents are created, targets replaced whole, no temporary file left behind."""

from __future__ import annotations

import os
import stat

import pytest

from alseg.io import atomic_write_bytes, atomic_write_text, staging_folder


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


@pytest.mark.parametrize(
    ("umask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_item16_writes_respect_the_umask_and_reach_the_disk(
    tmp_path, monkeypatch, umask, file_mode, folder_mode
):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "results.json", b"{}")
        folder = staging_folder(tmp_path / "rounds", ".round_1.")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == file_mode
    assert stat.S_IMODE(folder.stat().st_mode) == folder_mode
    assert synced  # flushed to disk before the rename
