"""Running the ``alseg`` command line in tests: in this process (fast) or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alseg.cli import main

REPO = Path(__file__).resolve().parents[1]


def alseg_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real entry point in a fresh interpreter (the tests folder importable)."""
    return subprocess.run(
        [sys.executable, "-c", "from alseg.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO)},
    )


def alseg_in_process(
    *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> subprocess.CompletedProcess:
    """``main()`` in this process, with the exit code and output of a subprocess run."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["alseg", *args])
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["alseg", *args], code, out, err)
