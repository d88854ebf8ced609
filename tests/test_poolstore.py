"""Pool results on disk: equal to the in-memory pass, resumable, reused per model, float16 bound."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from alseg.acquisition.inference import infer_pool
from alseg.acquisition.poolstore import (
    PoolResultsStore,
    float16_distance_bound,
    pass_key,
)
from alseg.acquisition.select import select_next
from alseg.config import BudgetConfig, ExperimentConfig, TrainConfig
from alseg.loop import LoopHooks, Setup, run_loop
from alseg.models import PlainSegmentationModel, SegmentationModel
from tests.cli_helpers import alseg_in_process
from tests.fakes import BlobDataset
from tests.test_cli_run import TINY

CPU = torch.device("cpu")
NEEDS = {"entropy", "embedding"}


def tiny_network() -> PlainSegmentationModel:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    network = nn.Sequential(features, nn.Conv2d(8, 3, 1))
    return PlainSegmentationModel(network, 3, backbone=features, embedding_layer=features)


def counting(model: PlainSegmentationModel) -> list[int]:
    """Images the model's network has seen so far, as a one-item list that the hook updates."""
    seen = [0]
    model.network.register_forward_hook(
        lambda _, inputs, __: seen.__setitem__(0, seen[0] + len(inputs[0]))
    )
    return seen


def stored_pass(model, pool, store, needs=NEEDS, **options):
    return infer_pool(
        model, pool, np.arange(len(pool)), needs, CPU, batch_size=4, store=store, **options
    )


@pytest.fixture
def pool() -> BlobDataset:
    return BlobDataset(4, 10, size=16)  # 40 images: chunks of 8 are 5 chunks


def test_disk_results_equal_the_in_memory_pass_bit_for_bit(tmp_path, pool):
    model = tiny_network()
    needs = NEEDS | {"equal"}
    memory = infer_pool(model, pool, np.arange(len(pool)), needs, CPU, batch_size=4)
    disk = stored_pass(model, pool, PoolResultsStore(tmp_path), needs, chunk_images=8)
    assert set(disk) == needs
    for need in needs:
        assert isinstance(disk[need], np.memmap) and disk[need].dtype == np.float32
        assert np.array_equal(disk[need], memory[need])


def test_select_next_on_disk_picks_what_it_picks_in_memory(tmp_path, pool):
    model, labeled = tiny_network(), np.array([0, 7, 13])
    for strategy in ("entropy", "coreset"):
        memory = select_next(model, pool, labeled, 5, strategy, seed=1)
        disk = select_next(model, pool, labeled, 5, strategy, seed=1, results_dir=tmp_path)
        assert np.array_equal(disk.picks, memory.picks)
        for need, values in memory.view.results.items():
            assert np.array_equal(disk.view.results[need], values)


def test_a_pass_killed_half_way_resumes_with_the_unfinished_chunks(tmp_path, pool):
    model = tiny_network()
    seen = counting(model)
    store = PoolResultsStore(tmp_path)

    def stop_after_two_chunks(done: int, total: int) -> None:
        if done >= 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stored_pass(model, pool, store, chunk_images=8, on_batch=stop_after_two_chunks)
    assert seen[0] == 16
    resumed = stored_pass(model, pool, store, chunk_images=8)
    assert seen[0] == 40  # the 24 images of the three unfinished chunks, nothing twice
    memory = infer_pool(model, pool, np.arange(len(pool)), NEEDS, CPU, batch_size=4)
    for need in NEEDS:
        assert np.array_equal(resumed[need], memory[need])


def test_a_pass_killed_inside_a_chunk_recomputes_that_chunk_only(tmp_path, pool):
    model = tiny_network()
    seen = counting(model)
    batches = [0]

    def crash(*_: object) -> None:
        batches[0] += 1
        if batches[0] == 5:  # the first batch of chunk 2 (chunks of 8 = two batches of 4)
            raise RuntimeError("killed")

    handle = model.network.register_forward_pre_hook(crash)
    with pytest.raises(RuntimeError, match="killed"):
        stored_pass(model, pool, PoolResultsStore(tmp_path), chunk_images=8)
    handle.remove()
    assert seen[0] == 16
    stored_pass(model, pool, PoolResultsStore(tmp_path), chunk_images=8)
    assert seen[0] == 40


def test_a_chunk_is_not_done_until_its_rows_are_on_disk(tmp_path, monkeypatch):
    stored = PoolResultsStore(tmp_path).open("key", 10, 5)
    from alseg.acquisition import poolstore

    def no_space(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(poolstore, "_write_at", no_space)
    with pytest.raises(OSError):
        stored.write_chunk(0, {"entropy": np.ones(5, dtype=np.float32)})
    assert not stored.done("entropy").any()


def test_the_same_model_never_scores_an_image_twice(tmp_path, pool):
    model = tiny_network()
    seen, embedded = counting(model), [0]
    embedding = model.embedding

    def counted_embedding(output):
        embedded[0] += len(output.logits)
        return embedding(output)

    model.embedding = counted_embedding
    store = PoolResultsStore(tmp_path)
    first = stored_pass(model, pool, store, {"entropy"})
    assert seen[0] == 40
    again = stored_pass(model, pool, store, {"entropy"})
    assert seen[0] == 40 and np.array_equal(again["entropy"], first["entropy"])
    assert embedded[0] == 0
    both = stored_pass(model, pool, store)  # only the missing need is computed
    assert seen[0] == 80 and embedded[0] == 40
    assert np.array_equal(both["entropy"], first["entropy"])
    labeled, options = np.array([1, 2]), dict(seed=2, results_dir=tmp_path, batch_size=4)
    select_next(model, pool, labeled, 3, "coreset", **options)
    assert seen[0] == 120 and embedded[0] == 80  # another seed: another pass key
    select_next(model, pool, labeled, 3, "coreset", **options)
    assert seen[0] == 120  # the stored embeddings are read back
    select_next(model, pool, labeled, 3, "entropy", **options)
    assert seen[0] == 160 and embedded[0] == 80  # entropy only
    with torch.no_grad():
        model.network[1].weight[0, 0, 0, 0] += 1e-3
    stored_pass(model, pool, store, {"entropy"})
    assert seen[0] == 200  # one weight changed: every image again, under a new key
    assert len(store.keys()) == 3
    store.prune(keep=1)
    assert len(store.keys()) == 1


def test_the_key_covers_what_the_numbers_depend_on(pool):
    model, indices = tiny_network(), np.arange(len(pool))
    settings = dict(seed=0, device=CPU, batch_size=4, chunk_images=8, embedding_dtype="float32")
    key = pass_key(model, pool, indices, **settings)
    assert pass_key(model, pool, indices, **settings) == key
    for change in (
        {"seed": 1},
        {"batch_size": 8},
        {"chunk_images": 16},
        {"embedding_dtype": "float16"},
    ):
        assert pass_key(model, pool, indices, **{**settings, **change}) != key
    assert pass_key(model, pool, indices[:-1], **settings) != key
    assert pass_key(model, BlobDataset(4, 10, size=8), indices, **settings) != key


def test_float16_embeddings_stay_within_the_stated_distance_bound(tmp_path):
    rng = np.random.default_rng(0)
    dim = 64
    x = rng.normal(size=(50, dim)).astype(np.float32) * rng.choice([1e-6, 1e-3, 1.0, 300.0], 50)[
        :, None
    ].astype(np.float32)
    stored = PoolResultsStore(tmp_path, "float16").open("key", 50, 16)
    for chunk in range(stored.chunks):
        start, stop = stored.span(chunk)
        stored.write_chunk(chunk, {"embedding": x[start:stop], "entropy": x[start:stop, 0]})
    half = stored.read("embedding")
    assert half.dtype == np.float16 and stored.read("entropy").dtype == np.float32
    assert np.array_equal(stored.read("entropy"), x[:, 0])
    exact = x.astype(np.float64)
    rounded = np.asarray(half, dtype=np.float64)
    d32 = np.linalg.norm(exact[:, None] - exact[None], axis=-1)
    d16 = np.linalg.norm(rounded[:, None] - rounded[None], axis=-1)
    norms = np.linalg.norm(exact, axis=1)
    bound = float16_distance_bound(norms[:, None], norms[None], dim)
    assert (np.abs(d16 - d32) <= bound).all()
    assert np.abs(d16 - d32).max() > bound.max() / 1e4  # float16 did round


def test_float16_refuses_values_beyond_its_range(tmp_path):
    stored = PoolResultsStore(tmp_path, "float16").open("key", 2, 2)
    with pytest.raises(ValueError, match="float16"):
        stored.write_chunk(0, {"embedding": np.full((2, 3), 1e6, dtype=np.float32)})


def test_float16_pass_stores_the_rounded_float32_embeddings(tmp_path, pool):
    model = tiny_network()
    memory = infer_pool(model, pool, np.arange(len(pool)), NEEDS, CPU, batch_size=4)
    disk = stored_pass(model, pool, PoolResultsStore(tmp_path, "float16"))
    assert np.array_equal(disk["embedding"], memory["embedding"].astype(np.float16))
    assert np.array_equal(disk["entropy"], memory["entropy"])
    with pytest.raises(ValueError, match="results_dir"):
        select_next(model, pool, np.array([0]), 2, "coreset", embedding_dtype="float16")


def test_a_store_refuses_another_layout_under_the_same_key(tmp_path):
    PoolResultsStore(tmp_path).open("key", 10, 5)
    with pytest.raises(ValueError, match="layout"):
        PoolResultsStore(tmp_path).open("key", 10, 2)


def test_in_memory_configs_keep_their_keys():
    config = ExperimentConfig()
    assert "pool_results" not in config.model_dump() and "pool_results" not in config.to_yaml()
    disk = ExperimentConfig(pool_results="disk")
    assert ExperimentConfig(**disk.model_dump()).pool_results == "disk"
    assert disk.key() != config.key()


class PlainHooks(LoopHooks):
    def new_model(self, setup: Setup) -> SegmentationModel:
        return tiny_network()


@pytest.mark.parametrize("where", ["disk", "disk-float16"])
def test_the_engine_acquires_through_the_store(tmp_path, where):
    def run(pool_results: str, folder=None) -> list:
        config = ExperimentConfig(
            strategy="coreset",
            train=TrainConfig(epochs=1, min_iterations=3, batch_size=4, channels_last=False),
            budget=BudgetConfig(initial=20, step=20, until=60),
            pool_results=pool_results,
        )
        val = BlobDataset(2, 3, seed=9, size=16)
        setup = Setup(config, BlobDataset(4, 5, size=16), val, CPU, folder)
        return list(run_loop(setup, PlainHooks()))

    memory = run("memory")
    disk = run(where, tmp_path / "pool_results")
    assert len(PoolResultsStore(tmp_path / "pool_results").keys()) == 1  # the latest model's
    if where == "disk":
        assert [r.acquired for r in disk] == [r.acquired for r in memory]
        assert [r.miou for r in disk] == [r.miou for r in memory]
    assert [len(r.acquired) for r in disk] == [4, 4, 0]
    assert len(run(where)[0].acquired) == 4  # no folder: a temporary one


KILLED_PASS = """
import os, signal, sys
import numpy as np, torch
from tests.test_poolstore import stored_pass, tiny_network
from tests.fakes import BlobDataset
from alseg.acquisition.poolstore import PoolResultsStore

def kill(done, total):
    if done >= 16:
        os.kill(os.getpid(), signal.SIGKILL)

stored_pass(tiny_network(), BlobDataset(4, 10, size=16), PoolResultsStore(sys.argv[1]),
            chunk_images=8, on_batch=kill)
"""


@pytest.mark.slow
def test_a_pass_killed_by_sigkill_keeps_its_finished_chunks(tmp_path, pool):
    command = [sys.executable, "-c", KILLED_PASS, str(tmp_path)]
    killed = subprocess.run(command, check=False, cwd=Path(__file__).parents[1])
    assert killed.returncode == -9
    model = tiny_network()
    seen = counting(model)
    resumed = stored_pass(model, pool, PoolResultsStore(tmp_path), chunk_images=8)
    assert seen[0] == 24
    memory = infer_pool(model, pool, np.arange(len(pool)), NEEDS, CPU, batch_size=4)
    for need in NEEDS:
        assert np.array_equal(resumed[need], memory[need])


@pytest.mark.slow
def test_alseg_run_keeps_pool_results_in_the_run_folder(tmp_path, monkeypatch, capsys):
    picks = {}
    for where in ("memory", "disk"):
        config = tmp_path / f"{where}.yaml"
        config.write_text(yaml.safe_dump({**TINY, "pool_results": where}))
        out = tmp_path / where
        args = ("run", "--config", str(config), "--strategy", "coreset", "--out", str(out))
        done = alseg_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
        results = json.loads((out / "results.json").read_text())
        picks[where] = [c["acquired"] for c in results["cycles"]]
    assert picks["disk"] == picks["memory"]
    (key,) = PoolResultsStore(tmp_path / "disk" / "pool_results").keys()
    stored = sorted(p.name for p in (tmp_path / "disk" / "pool_results" / key).iterdir())
    assert stored == ["embedding.done", "embedding.npy", "meta.json"]
    assert not (tmp_path / "memory" / "pool_results").exists()
