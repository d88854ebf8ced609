"""A study on a two-node Ray cluster whose tasks cannot open the study folder: only the driver's
``StoreWriter`` writes it, and a worker node killed mid-study costs nothing but time (its run is
submitted again from its committed cycles). The results equal the local executor's."""

from __future__ import annotations

import io
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from rich.console import Console

from alseg.study.config import expand
from alseg.study.executors import LocalExecutor, RayExecutor
from alseg.study.runner import run_study
from alseg.study.store import DB_NAME, Store
from tests.study_helpers import TINY_BASE, blob_setup, register_blobs, tiny_study, without_timings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a local multi-node cluster"),
]

ray = pytest.importorskip("ray", reason="the ray executor needs ray (pip install 'alseg[ray]')")
Cluster = pytest.importorskip("ray.cluster_utils").Cluster
REPO = Path(__file__).resolve().parents[1]
#: Loaded by every Python process of the worker node: the study folder (and any SQLite file) is
#: out of reach there, as on a node that does not mount the driver's disk.
GUARD = """
import builtins, io, os, sqlite3

FORBIDDEN = os.environ["ALSEG_TEST_FORBIDDEN"]


def guarded(function):
    def call(path, *args, **kwargs):
        if isinstance(path, str | bytes | os.PathLike):
            if FORBIDDEN in os.path.abspath(os.fsdecode(path)):
                raise PermissionError(f"a task on the worker node touched {os.fsdecode(path)}")
        return function(path, *args, **kwargs)

    return call


builtins.open = io.open = guarded(builtins.open)
os.open, os.unlink, os.replace = guarded(os.open), guarded(os.unlink), guarded(os.replace)
sqlite3.connect = guarded(sqlite3.connect)
"""
WORKER = {"worker": 1.0}  # a resource only the worker nodes have: every task runs there


def refused(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except PermissionError:
        return True
    return False


def touch_study(folder: str) -> list[bool]:
    """Whether a task on the worker node is refused writing into the study folder and opening
    its database."""
    return [
        refused(lambda: Path(folder, "x").write_bytes(b"")),
        refused(lambda: sqlite3.connect(Path(folder, DB_NAME))),
    ]


def stored_cycles(folder: Path) -> dict[str, int]:
    return Store(folder, read_only=True).cycle_counts() if Store.exists(folder) else {}


def test_a_two_node_study_survives_a_killed_worker_node(tmp_path, monkeypatch):
    register_blobs()
    torch.set_num_threads(1)
    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "keep_head": True}}
    study = tiny_study(base=base, include_full_reference=False)  # two runs sharing cycle 0
    out = tmp_path / "study"
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    paths = [str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    worker_env = {
        "PYTHONPATH": os.pathsep.join([str(guard), os.environ["PYTHONPATH"]]),
        "ALSEG_TEST_FORBIDDEN": str(out),
    }
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    worker = cluster.add_node(num_cpus=1, resources=WORKER, env_vars=worker_env)
    log = io.StringIO()
    executor = RayExecutor(cpus_per_run=1, poll_seconds=0.2, resources=WORKER)
    pool = ThreadPoolExecutor(1)  # the study runs beside: Ray adds nodes from the main thread only
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        probe = ray.remote(touch_study).options(resources=WORKER)
        assert ray.get(probe.remote(str(out))) == [True, True]
        study_run = pool.submit(
            run_study,
            study,
            out,
            executor,
            "cpu",
            console=Console(file=log),
            setup_factory=blob_setup,
        )
        deadline, counts = time.monotonic() + 60, {}
        while sum(counts.values()) < 2 and not study_run.done() and time.monotonic() < deadline:
            time.sleep(0.05)
            counts = stored_cycles(out)
        assert not study_run.done(), "the study ended before the worker node was killed"
        cluster.remove_node(worker)  # a run dies after its cycles 0 and 1 were committed
        cluster.add_node(num_cpus=1, resources=WORKER, env_vars=worker_env)
        outcome = study_run.result(timeout=90)
    finally:
        ray.shutdown()
        cluster.shutdown()
        pool.shutdown(wait=False)
    assert list(counts.values()) == [2] and "submitted again" in log.getvalue()
    assert outcome.failures == [] and outcome.executed == 2
    run_study(study, tmp_path / "local", LocalExecutor(threads=1), "cpu", setup_factory=blob_setup)
    by_ray, by_local = Store(out), Store(tmp_path / "local")
    for config in expand(study):
        rows = by_ray.cycles(config.key())
        assert len(rows) == 3
        assert without_timings(rows) == without_timings(by_local.cycles(config.key()))
    assert set(by_ray.statuses().values()) == {"done"}
    assert sorted(path.name for path in (out / "checkpoints").iterdir()) == sorted(
        path.name for path in (tmp_path / "local" / "checkpoints").iterdir()
    )
