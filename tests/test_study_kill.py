"""A study killed (SIGKILL) at random moments resumes to exactly the uninterrupted result."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from alseg.study.config import expand
from alseg.study.runner import run_study
from alseg.study.store import Store
from tests.study_helpers import register_blobs, tiny_study, without_timings

REPO = Path(__file__).resolve().parents[1]
KILLS = 3
ENTRY = f"""
import sys
import torch
torch.set_num_threads(1)
sys.path[:0] = [{str(REPO)!r}, {str(REPO / "src")!r}]
from tests.study_helpers import register_blobs, tiny_study
register_blobs()
from alseg.study.runner import run_study

print("ready", flush=True)
run_study(tiny_study(), sys.argv[1], device="cpu")
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals (SIGKILL)"),
]


def start(script: Path, out: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def check_consistent(store: Store, keys: list[str]) -> None:
    assert store.integrity() == "ok"
    for key in keys:
        store.cycles(key)  # contiguous cycles 0..n-1, or DataError


def test_sigkill_at_random_moments_then_resume(tmp_path):
    register_blobs()
    torch.set_num_threads(1)
    study = tiny_study()
    keys = [config.key() for config in expand(study)]
    script = tmp_path / "entry.py"
    script.write_text(ENTRY)
    out = tmp_path / "killed"
    rng = np.random.default_rng(2024)
    total = 3 + 3 + 1  # cycles of random, entropy and the 100% reference
    targets = np.sort(rng.choice(total, KILLS, replace=False))  # cycles stored before a kill
    for kill, target in enumerate(targets):
        process = start(script, out)
        while sum(Store(out).cycle_counts().values()) < target and process.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))  # then a random moment within the next cycle
        assert process.poll() is None, f"the study finished before kill {kill + 1}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        check_consistent(Store(out), keys)
    process = start(script, out)
    assert process.wait(timeout=300) == 0

    run_study(study, tmp_path / "uninterrupted", device="cpu")
    resumed, reference = Store(out), Store(tmp_path / "uninterrupted")
    check_consistent(resumed, keys)
    assert set(resumed.statuses().values()) == {"done"}
    assert sum(resumed.cycle_counts().values()) == total
    for key in keys:
        assert without_timings(resumed.cycles(key)) == without_timings(reference.cycles(key))
