"""Atomic file writes: a temporary file beside the target, flushed to disk, renamed into place.

Files get the permissions an ordinary ``open`` would give them (0666 less the umask), so a
teammate or a Label Studio server running as another user can read results, labels and exports;
folders made with ``private_folder`` get 0777 less the umask.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from alseg.errors import DataError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync it and rename it into place; an OSError
    (read-only folder, disk full, a folder in the way) is one DataError naming ``path``."""
    atomic_write_files({path: data})


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files all or nothing: every temporary file first, then the renames (which
    do not fail for lack of space), so a full disk leaves none of them half written."""
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            written.append((_write_temporary(path, data), path))
        for temporary, path in written:
            os.replace(temporary, path)
    except OSError as error:
        failed = Path(error.filename) if error.filename else next(iter(files))
        raise DataError(f"cannot write {failed}: {error.strerror or error}") from None
    finally:
        for temporary, _ in written:
            Path(temporary).unlink(missing_ok=True)


def _write_temporary(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and not error.filename:
            error.filename = str(path)
        raise
    return temporary


def path_inside(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` when it stays inside ``folder`` (paths read from a store or a state
    file are untrusted: an absolute path or ``..`` must not reach other files); None otherwise."""
    root = folder.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) and target != root else None


def writable_folder(path: Path, what: str = "output folder") -> Path:
    """``path`` created if needed and checked writable now, before any long work (one
    DataError line naming it otherwise)."""
    if path.exists() and not path.is_dir():
        raise DataError(f"{what} {path} is a file; give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=".alseg-write-test.")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise DataError(f"cannot write in {what} {path}: {error.strerror or error}") from None
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def staging_folder(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with the umask's permissions (mkdtemp's 0700
    would hide it from other users once renamed into place)."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    folder.chmod(0o777 & ~_umask())
    return folder
