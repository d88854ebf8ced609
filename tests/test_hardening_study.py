"""Hardening of studies (issue 12, items 4, 5, 6, 12, 17, 18, 19): a read-only store for readers,
one driver per study folder, seeds >= 0, checkpoint hashes, no Ray processes left after a killed
driver, data checked by a dry run, and the torch threads a run was given."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from alseg.config import ExperimentConfig, build
from alseg.errors import ConfigError, DataError
from alseg.project.masks import init_project
from alseg.report.build import write_report
from alseg.study import executors
from alseg.study.config import expand
from alseg.study.executors import (
    LocalExecutor,
    Planned,
    RunContext,
    StudyProgress,
    _ray_task,
    default_threads,
)
from alseg.study.runner import plan_study, run_study
from alseg.study.store import DB_NAME, CycleRow, Store, study_lock
from tests.cli_helpers import alseg_in_process
from tests.study_helpers import TINY_BASE, register_blobs, tiny_study, without_timings
from tests.test_study_store import row

REPO = Path(__file__).resolve().parents[1]
POSIX = pytest.mark.skipif(os.name != "posix", reason="needs POSIX locks and signals")


@pytest.fixture(autouse=True)
def blobs() -> None:
    register_blobs()


def stored_study(directory: Path, wal: bool = True) -> Store:
    """A store holding one run with one finished cycle."""
    store = Store(directory, wal=wal)
    run = ExperimentConfig(strategy="random")
    store.register([run])
    store.commit_cycle(run.key(), row(0), final=True)
    return store


# --- item 4: readers open the store read-only ------------------------------------------------


def test_item04_report_and_dry_run_open_the_store_read_only(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / DB_NAME).write_bytes(b"")
    assert run_study(tiny_study(), empty, dry_run=True).plan.statuses == {}
    with pytest.raises(DataError, match="holds no study results"):
        write_report(empty)
    assert (empty / DB_NAME).stat().st_size == 0  # not turned into a database
    with pytest.raises(DataError, match=r"study\.sqlite is an empty file"):
        Store(empty, read_only=True)

    kept = tmp_path / "kept"
    stored_study(kept, wal=False)  # a rollback-journal store: a read-write open would make it WAL
    before = {path.name: path.read_bytes() for path in kept.iterdir()}
    plan_study(tiny_study(), kept)
    reader = Store(kept, read_only=True)
    assert [run.status for run in reader.runs()] == ["done"]
    assert {path.name: path.read_bytes() for path in kept.iterdir()} == before
    with sqlite3.connect(kept / DB_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with pytest.raises(DataError, match="not found"):
        Store(tmp_path / "nowhere", read_only=True)
    assert not (tmp_path / "nowhere").exists()


def test_item04_a_read_only_folder_is_read_and_writes_are_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "study"
    stored_study(folder)
    real_access = os.access
    # a folder this process cannot write (simulated: the tests may run as root)
    monkeypatch.setattr(
        os, "access", lambda path, mode: mode != os.W_OK and real_access(path, mode)
    )
    reader = Store(folder, read_only=True)
    assert list(reader.statuses().values()) == ["done"]
    with pytest.raises(DataError, match=f"results store {folder / DB_NAME}: .*readonly"):
        reader.save_meta("x", 1)


def test_item04_sqlite_operational_errors_are_one_data_error_line(tmp_path, monkeypatch):
    store = stored_study(tmp_path)
    monkeypatch.setattr("alseg.study.store.BUSY_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DataError, match=f"results store {store.path}: database is locked"):
            store.save_meta("x", 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    (tmp_path / "foreign").mkdir()
    with sqlite3.connect(tmp_path / "foreign" / DB_NAME) as db:
        db.execute("CREATE TABLE other (x)")
    with pytest.raises(DataError, match="not an alseg study store"):
        Store(tmp_path / "foreign", read_only=True)


# --- item 5: one driver per study folder -----------------------------------------------------

HOLD_LOCK = """
import sys, time
from alseg.study.store import study_lock
with study_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


@POSIX
def test_item05_a_second_driver_on_a_study_folder_is_refused(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "study"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        (tmp_path / "grid.yaml").write_text(
            "pools: [{dataset: blobs, kind: all, size: null}]\nstrategies: [random]\n"
            "budgets: [20-20@40]\n"
        )
        done = alseg_in_process(
            "study", "grid.yaml", "--out", str(folder), "--device", "cpu",
            cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys,
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"error: study folder {folder} is in use by process {holder.pid}; wait for that "
            "study to end or stop it, or use another --out folder"
        )
        assert not (folder / DB_NAME).exists()  # nothing done, nothing written
        with pytest.raises(DataError, match=f"in use by process {holder.pid}"):
            run_study(tiny_study(), folder, device="cpu")
    finally:
        holder.kill()  # the kernel drops the lock of a killed holder
        holder.wait()
    with study_lock(folder):
        assert (folder / "study.lock").read_text().strip() == str(os.getpid())


# --- item 6: seeds are >= 0 ------------------------------------------------------------------


def test_item06_negative_seeds_are_one_line_config_errors(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match=r"^invalid config seed: seed must be >= 0, got -3$"):
        build(ExperimentConfig, seed=-3)
    with pytest.raises(ConfigError, match="pool.seed: seed must be >= 0, got -1"):
        build(ExperimentConfig, pool={"seed": -1})
    with pytest.raises(ConfigError, match="seeds: seed must be >= 0, got -1"):
        tiny_study(seeds=[0, -1])
    with pytest.raises(ConfigError, match="seed must be >= 0, got -2"):
        tiny_study(pools=[{"dataset": "blobs", "kind": "all", "size": None, "seed": -2}])
    with pytest.raises(ConfigError, match="^seed must be >= 0, got -1$"):
        init_project(tmp_path / "project", tmp_path, tmp_path / "classes.yaml", seed=-1)
    done = alseg_in_process(
        "run", "--seed", "-3", "--out", "out", cwd=tmp_path, monkeypatch=monkeypatch,
        capsys=capsys,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "error: invalid config seed: seed must be >= 0, got -3"
    assert not (tmp_path / "out").exists()


# --- item 12: checkpoints are stored with their sha256 ---------------------------------------

OLD_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (key TEXT PRIMARY KEY, config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', started REAL, finished REAL, error TEXT);
CREATE TABLE cycles (run TEXT NOT NULL REFERENCES runs(key), cycle INTEGER NOT NULL,
    labeled TEXT NOT NULL, added TEXT NOT NULL, acquired TEXT NOT NULL, metrics TEXT NOT NULL,
    checkpoint TEXT, committed REAL NOT NULL, PRIMARY KEY (run, cycle));
CREATE TABLE shared (key TEXT PRIMARY KEY, config TEXT NOT NULL, labeled TEXT NOT NULL,
    metrics TEXT NOT NULL, checkpoint TEXT NOT NULL, embeddings TEXT, committed REAL NOT NULL);
"""


def test_item12_checkpoint_hashes_are_stored_and_old_stores_migrate(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / DB_NAME) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO runs (key, config) VALUES ('k', '{}')")
        db.execute("INSERT INTO cycles VALUES ('k', 0, '[]', '[]', '[]', ?, 'c.pt', 0)", (
            row(0).result.model_dump_json(),
        ))  # fmt: skip
    assert Store(old, read_only=True).cycles("k")[0].checkpoint_sha256 is None  # not migrated
    store = Store(old)  # migrated in place
    assert store.cycles("k") == [CycleRow([], row(0).result, "c.pt")]
    for table in ("cycles", "shared"):
        with sqlite3.connect(old / DB_NAME) as db:
            columns = [info[1] for info in db.execute(f"PRAGMA table_info({table})")]
        assert columns[-1] == "checkpoint_sha256"

    checkpoint = tmp_path / "new" / "checkpoints" / "run-c1.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    new, key = Store(tmp_path / "new"), ExperimentConfig().key()
    new.register([ExperimentConfig()])
    new.commit_cycle(key, CycleRow([1], row(0).result, "checkpoints/run-c1.pt"), final=False)
    assert new.cycles(key)[0].checkpoint_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert new.checked_checkpoint("checkpoints/run-c1.pt") == checkpoint
    checkpoint.write_bytes(b"weight")
    with pytest.raises(DataError, match=f"checkpoint {checkpoint} is damaged"):
        new.checked_checkpoint("checkpoints/run-c1.pt")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.slow
def test_item12_a_damaged_shared_checkpoint_is_trained_again(tmp_path):
    study = tiny_study(
        ("random",), budgets=["20-20@40"], include_full_reference=False, save_embeddings=False
    )
    run_study(study, tmp_path, device="cpu")
    store = Store(tmp_path)
    (config,) = expand(study)
    first = store.cycles(config.key())
    (checkpoint,) = (tmp_path / "checkpoints").glob("*.pt")
    truncate(checkpoint)
    with sqlite3.connect(store.path) as db:
        db.execute("DELETE FROM cycles")
        db.execute("UPDATE runs SET status = 'pending'")
    outcome = run_study(study, tmp_path, device="cpu")
    assert outcome.failures == []
    again = store.cycles(config.key())
    assert without_timings(again) == without_timings(first)
    assert again[0].checkpoint_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


@pytest.mark.slow
def test_item12_a_damaged_keep_head_checkpoint_is_one_line_with_the_way_out(tmp_path, monkeypatch):
    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "keep_head": True}}
    study = tiny_study(("entropy",), base=base, include_full_reference=False, save_embeddings=False)
    (config,) = expand(study)
    key = config.key()
    commit = Store.commit_cycle

    def interrupted_after_cycle_one(self, run, stored, final):
        commit(self, run, stored, final)
        if stored.cycle == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Store, "commit_cycle", interrupted_after_cycle_one)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path, device="cpu")
    monkeypatch.setattr(Store, "commit_cycle", commit)
    checkpoint = tmp_path / "checkpoints" / f"{key}-c1.pt"
    truncate(checkpoint)
    with pytest.raises(DataError) as error:
        run_study(study, tmp_path, device="cpu")
    assert str(error.value) == (
        f"checkpoint {checkpoint} is damaged (its sha256 differs from the one stored with it); "
        f"start the run(s) that need it again from cycle 0: alseg study ... --restart {key}"
    )
    assert len(Store(tmp_path).cycles(key)) == 2  # nothing replaced
    with pytest.raises(ConfigError, match="--restart nope: no run of study tiny"):
        run_study(study, tmp_path, device="cpu", restart=["nope"])
    outcome = run_study(study, tmp_path, device="cpu", restart=[key])
    assert outcome.failures == [] and Store(tmp_path).statuses() == {key: "done"}
    assert len(Store(tmp_path).cycles(key)) == 3


# --- item 17: a killed Ray driver leaves no Ray processes ------------------------------------

RAY_DRIVER = f"""
import sys
sys.path[:0] = [{str(REPO)!r}, {str(REPO / "src")!r}]
from alseg.study.executors import RayExecutor
from alseg.study.runner import run_study
from tests.study_helpers import blob_setup, register_blobs, tiny_study

register_blobs()
print("ready", flush=True)
run_study(tiny_study(), sys.argv[1], RayExecutor(poll_seconds=0.2), "cpu", setup_factory=blob_setup)
"""


def processes() -> dict[int, tuple[int, str, str, str]]:
    """pid -> (ppid, start time, state, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found[int(entry.name)] = (int(stat[1]), stat[19], stat[0], command)
    return found


def descendants(pid: int) -> dict[int, tuple[int, str, str, str]]:
    found = processes()
    tree, parents = {}, {pid}
    while new := {p for p, info in found.items() if info[0] in parents and p not in parents}:
        tree.update((p, found[p]) for p in new)
        parents |= new
    return tree


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_item17_sigkill_of_a_ray_study_leaves_no_ray_processes(tmp_path):
    pytest.importorskip("ray", reason="the ray executor needs ray")
    paths = [str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    driver = subprocess.Popen(
        [sys.executable, "-c", RAY_DRIVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths)},
    )
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 40
        agents = ("ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::_ray_task")
        while time.monotonic() < deadline and driver.poll() is None:
            commands = [info[3] for info in descendants(driver.pid).values()]
            if all(any(name in c for c in commands) for name in agents):
                break
            time.sleep(0.2)
        tree = descendants(driver.pid)
        assert driver.poll() is None and len(tree) > 3, "the Ray study did not start in time"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = processes()
            left = [
                info[3][:60]
                for pid, info in tree.items()
                if pid in found and found[pid][1] == info[1] and found[pid][2] != "Z"
            ]
            if not left:
                break
            time.sleep(0.2)
        assert left == [], f"processes of the killed Ray study still run: {left}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


# --- item 18: a dry run checks the data a real run reads first -------------------------------


def test_item18_dry_run_lists_the_runs_then_names_missing_data(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nonexistent"
    done = alseg_in_process(
        "study", "paper-voc", "--data-root", str(missing), "--dry-run", "--out", "voc",
        cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert done.returncode == 2
    assert "study paper-voc: " in done.stdout and "new" in done.stdout  # the runs, listed
    assert done.stderr.strip() == (
        f"error: data the study reads is missing: data root {missing} (not a folder)"
    )
    pools = [
        {"dataset": "pascal_voc", "kind": "all", "size": None},
        {"dataset": "blobs", "kind": "list:lists/train.txt", "size": None},
    ]
    study = tiny_study(pools=pools)
    message = (
        "data the study reads is missing: dataset pascal_voc needs a data root "
        "(--data-root PATH); pool list lists/train.txt (not a file)"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as error:
        run_study(study, "planned", dry_run=True)
    assert str(error.value) == message
    with pytest.raises(DataError) as error:  # a real run: before anything is written
        run_study(study, "planned", device="cpu")
    assert str(error.value) == message and not Path("planned").exists()


# --- item 19: a run uses the threads it was given --------------------------------------------


def test_item19_executors_use_the_threads_they_were_given(tmp_path, monkeypatch):
    used: list[int] = []
    monkeypatch.setattr(
        executors, "execute_run", lambda *a, **k: used.append(torch.get_num_threads())
    )
    config = expand(tiny_study(("random",), include_full_reference=False))[0]
    runs = [Planned(config, "random", 3)]
    context = RunContext(str(tmp_path), device="cpu")
    progress = StudyProgress(None, Store(tmp_path), runs)
    before = torch.get_num_threads()
    LocalExecutor(threads=3).execute(runs, context, progress)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    LocalExecutor(default_threads()).execute(runs, context, progress)  # the CLI's default
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    LocalExecutor(default_threads()).execute(runs, context, progress)
    LocalExecutor().execute(runs, context, progress)  # the library's: the process's setting
    assert torch.get_num_threads() == before  # the process's setting is back
    _ray_task(config.model_dump(mode="json"), context, False, 4)  # a Ray task's body
    torch.set_num_threads(before)
    assert used == [3, 5, 2, before, 4]


@pytest.mark.slow
def test_item15_a_different_study_is_not_written_into_a_study_folder(tmp_path):
    register_blobs()
    first = tiny_study(("random",), include_full_reference=False)
    run_study(first, tmp_path, device="cpu")
    other = tiny_study(("entropy",), include_full_reference=False)  # same name, leaves out runs
    renamed = first.model_copy(update={"name": "other"})
    for study in (other, renamed):
        with pytest.raises(ConfigError, match="give another --out, or --overwrite"):
            run_study(study, tmp_path, device="cpu")
    assert (tmp_path / "study.yaml").read_text().count("random") >= 1  # not replaced
    grown = tiny_study(("random", "entropy"), include_full_reference=False)
    run_study(grown, tmp_path, device="cpu")  # growing the same study is fine
