"""The StoreWriter: the one writer of a study folder (the local executor's, and the Ray executor's
actor on the driver's node). Runs hand it rows with checkpoint bytes and get back what they
continue from, so a run never opens the folder itself."""

from __future__ import annotations

import hashlib
import io
import sqlite3

import pytest
import torch

from alseg.errors import DataError
from alseg.study.store import CycleRow, SharedRow, Store
from alseg.study.worker import CycleCommit, Resume, SharedCycle, StoreWriter
from tests.test_study_store import config, evaluation, row


def weights(value: float) -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.full((2,), value)}, buffer)
    return buffer.getvalue()


def test_shared_cycles_and_keep_head_checkpoints_travel_as_bytes(tmp_path):
    store = Store(tmp_path)
    writer = StoreWriter(store)
    shared_row = SharedRow("c0-x", {}, [1, 2], evaluation(40.0), "checkpoints/c0-x.pt", "emb/x.npz")
    writer.put_shared(SharedCycle(shared_row, weights(0.0), b"embeddings"))
    assert (tmp_path / "emb" / "x.npz").read_bytes() == b"embeddings"
    stored = writer.shared("c0-x")
    assert stored is not None and stored.model == weights(0.0) and stored.embeddings is None
    assert stored.row.checkpoint_sha256 == hashlib.sha256(weights(0.0)).hexdigest()
    assert writer.shared("c0-missing") is None

    run = config(train={"keep_head": True})
    key = run.key()
    store.register([run])
    assert writer.resume(run) == Resume()
    writer.mark_started(key)
    writer.commit(CycleCommit(key, CycleRow([1, 2], row(0).result, "checkpoints/c0-x.pt"), False))
    for cycle in (1, 2):
        named = CycleRow([1, 2], row(cycle).result, f"checkpoints/{key}-c{cycle}.pt")
        stale = f"checkpoints/{key}-c1.pt" if cycle == 2 else None
        writer.commit(CycleCommit(key, named, False, weights(float(cycle)), stale))
    resume = writer.resume(run)
    assert [r.cycle for r in resume.rows] == [0, 1, 2] and resume.model == weights(2.0)
    checkpoints = {path.name for path in (tmp_path / "checkpoints").iterdir()}
    assert checkpoints == {"c0-x.pt", f"{key}-c2.pt"}  # cycle 1's went once cycle 2 was stored
    assert resume.rows[2].checkpoint_sha256 == hashlib.sha256(weights(2.0)).hexdigest()
    assert writer.resume(config()).model is None  # without keep_head no model is read

    (tmp_path / "checkpoints" / f"{key}-c2.pt").write_bytes(b"garbled")
    with pytest.raises(DataError, match=f"{key}-c2.pt is damaged.*--restart {key}"):
        writer.resume(run)
    with sqlite3.connect(store.path) as db:  # as an older alseg stored it: without a sha256
        db.execute("UPDATE cycles SET checkpoint_sha256 = NULL")
    with pytest.raises(DataError, match=f"{key}-c2.pt does not load .*--restart {key}"):
        writer.resume(run)
