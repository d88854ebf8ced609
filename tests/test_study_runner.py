import sqlite3

import pytest
import torch

from alseg.config import BudgetConfig
from alseg.errors import ConfigError, DataError
from alseg.loop import make_setup, run_loop
from alseg.study import worker
from alseg.study.config import expand, load_study
from alseg.study.executors import make_executor
from alseg.study.presets import PRESETS, preset
from alseg.study.runner import plan_study, run_study
from alseg.study.store import Store
from alseg.study.worker import shared_key
from tests.study_helpers import TINY_BASE, register_blobs, tiny_study, without_timings


@pytest.fixture(autouse=True)
def blobs():
    register_blobs()
    torch.set_num_threads(1)


# --- the study config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategies": ["entropy", "magic"]}, "unknown strategy 'magic'"),
        ({"strategies": ["full"]}, "include_full_reference"),
        ({"ssl": ["none", "fixmatch"]}, "unknown SSL method 'fixmatch'"),
        ({"seeds": [0, 0]}, "twice"),
        ({"pools": [{"dataset": "nope"}]}, "unknown dataset 'nope'"),
        ({"pools": [{"kind": "7x"}]}, "unknown pool kind '7x'"),
        ({"base": {"strategy": "random"}}, "base may not set 'strategy'"),
        ({"base": {"ssl": {"method": "s4gan"}}}, "base may not set ssl.method"),
        ({"base": {"train": {"epochs": "many"}}}, "base: invalid config train.epochs"),
        ({"budgets": ["50-10@20"]}, "until"),
        ({"name": "a b"}, "study name"),
    ],
)
def test_invalid_studies_name_the_problem(change, message):
    with pytest.raises(ConfigError, match=message):
        tiny_study(**change)


def test_expand_order_references_and_no_duplicates():
    study = tiny_study(("random", "bald"), seeds=[0, 1], ssl=["none", "s4gan"])
    configs = expand(study)
    labels = [(c.seed, c.ssl.method, c.strategy, c.model.head_dropout) for c in configs]
    per_seed = [
        ("none", "random", 0.0),
        ("none", "bald", 0.0),
        ("s4gan", "random", 0.0),
        ("s4gan", "bald", 0.0),
        ("none", "full", 0.0),
        ("none", "full", 0.5),  # BALD's MC-dropout reference
    ]
    assert labels == [(seed, *rest) for seed in (0, 1) for rest in per_seed]
    assert len({c.key() for c in configs}) == len(configs)
    assert [c.key() for c in expand(study)] == [c.key() for c in configs]
    assert all(c.data.name == "blobs" and c.budget.until == 60 for c in configs[:4])
    assert len(expand(tiny_study(include_full_reference=False))) == 2


def test_load_study_yaml(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "pools:\n  - {dataset: blobs, kind: all, size: null}\nstrategies: [coreset]\n"
        "budgets: 20-20@60\nseeds: [3]\n"
    )
    study = load_study(path)
    assert study.name == "grid" and study.budgets == [BudgetConfig(initial=20, step=20, until=60)]
    path.write_text("strategies: [coreset\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(path)
    with pytest.raises(ConfigError, match="not found"):
        load_study(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_validate_and_plan_without_data(name, tmp_path):
    plan = plan_study(preset(name), tmp_path / "never")
    assert plan.runs and plan.trainings_left() < plan.cycles_left()
    assert not (tmp_path / "never").exists()


def test_paper_presets_cover_the_grid():
    paper = plan_study(preset("synthdrive-paper"), "unused")
    assert len(paper.runs) == 5 * 3 * (2 * 2 * 5 + 2)  # pools x seeds x (grid + references)
    three_k = preset("a2d2-3k")
    assert three_k.budgets[0].absolute == (1000, 1000, 3) and three_k.pools[0].kind == "all"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "slurm"}, "unknown executor 'slurm'; allowed: local, ray"),
        ({"name": "local", "address": "auto"}, "--address is for the ray executor"),
        ({"name": "local", "threads": 0}, "threads must be at least 1"),
        ({"name": "ray", "threads": 2}, "ray uses --cpus-per-run"),
        ({"name": "ray", "cpus_per_run": 0}, "must be positive"),
    ],
)
def test_executor_options_are_checked(arguments, message):
    with pytest.raises(ConfigError, match=message):
        make_executor(**arguments)


def test_dry_run_writes_nothing(tmp_path):
    outcome = run_study(tiny_study(), tmp_path / "study", dry_run=True)
    assert outcome.executed == 0 and not (tmp_path / "study").exists()


# --- running ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_study_matches_the_loop_and_trains_cycle_zero_once(tmp_path, monkeypatch):
    study = tiny_study(("random", "entropy"), include_full_reference=False)
    outcome = run_study(study, tmp_path, device="cpu")
    assert outcome.failures == [] and outcome.executed == 2
    store = Store(tmp_path)
    random, entropy = expand(study)
    expected = list(run_loop(make_setup(entropy, torch.device("cpu"))))
    rows = store.cycles(entropy.key())
    assert [r.result.miou for r in rows] == [c.miou for c in expected]
    assert [r.added for r in rows] == [c.added for c in expected]
    assert [r.result.diagnostics for r in rows] == [c.diagnostics for c in expected]
    assert [r.acquired for r in rows[:-1]] == [c.added for c in expected[1:]]
    first = store.cycles(random.key())[0]
    assert first.labeled == rows[0].labeled and first.acquired != rows[0].acquired
    assert first.result.miou == rows[0].result.miou
    assert first.checkpoint == rows[0].checkpoint == f"checkpoints/{shared_key(random)}.pt"
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM shared").fetchone()[0] == 1
    assert len(list((tmp_path / "embeddings").glob("*.npz"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a finished study trained again")

    monkeypatch.setattr(worker, "train_cycle", no_training)
    monkeypatch.setattr(worker, "run_loop", no_training)
    again = run_study(study, tmp_path, device="cpu")
    assert again.executed == 0 and again.failures == []


@pytest.mark.slow
def test_keep_head_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "keep_head": True}}
    study = tiny_study(("entropy",), base=base, include_full_reference=False, save_embeddings=False)
    (config,) = expand(study)
    commit = Store.commit_cycle

    def interrupted_after_cycle_one(self, key, row, final):
        commit(self, key, row, final)
        if row.cycle == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Store, "commit_cycle", interrupted_after_cycle_one)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path, device="cpu")
    store = Store(tmp_path)
    assert store.statuses() == {config.key(): "running"}
    checkpoint = f"checkpoints/{config.key()}-c1.pt"
    assert store.cycles(config.key())[1].checkpoint == checkpoint
    monkeypatch.setattr(Store, "commit_cycle", commit)
    run_study(study, tmp_path, device="cpu")
    rows = store.cycles(config.key())
    expected = list(run_loop(make_setup(config, torch.device("cpu"))))
    assert [r.result.miou for r in rows] == [c.miou for c in expected]
    assert [r.added for r in rows] == [c.added for c in expected]
    assert not (tmp_path / checkpoint).exists()  # dropped once the next cycle is stored


@pytest.mark.slow
def test_a_kernel_bug_fails_one_run_and_the_study_goes_on(tmp_path):
    study = tiny_study(("random", "tests.toy_strategy:broken_kernel"), include_full_reference=False)
    outcome = run_study(study, tmp_path, device="cpu")
    (failure,) = outcome.failures
    assert failure.error.startswith("ValueError: ") and "embeddings" in failure.error
    random, broken = expand(study)
    assert Store(tmp_path).statuses() == {random.key(): "done", broken.key(): "failed"}


def test_failing_runs_are_recorded_and_user_errors_stop_the_study(tmp_path):
    def broken(config, device):
        raise RuntimeError(f"no data for {config.strategy}")

    study = tiny_study(include_full_reference=False)
    outcome = run_study(study, tmp_path / "a", device="cpu", setup_factory=broken)
    assert [f.error for f in outcome.failures] == [
        "RuntimeError: no data for random",
        "RuntimeError: no data for entropy",
    ]
    assert set(Store(tmp_path / "a").statuses().values()) == {"failed"}

    def missing(config, device):
        raise DataError("data root /nowhere not found")

    with pytest.raises(DataError, match="nowhere"):
        run_study(study, tmp_path / "b", device="cpu", setup_factory=missing)


@pytest.mark.slow
def test_a_missing_shared_checkpoint_is_trained_again(tmp_path):
    study = tiny_study(
        ("random",), budgets=["20-20@40"], include_full_reference=False, save_embeddings=False
    )
    run_study(study, tmp_path, device="cpu")
    store = Store(tmp_path)
    (config,) = expand(study)
    first = store.cycles(config.key())
    for checkpoint in (tmp_path / "checkpoints").glob("*.pt"):
        checkpoint.unlink()
    with sqlite3.connect(store.path) as db:
        db.execute("DELETE FROM cycles")
        db.execute("UPDATE runs SET status = 'pending'")
    run_study(study, tmp_path, device="cpu")
    assert without_timings(store.cycles(config.key())) == without_timings(first)
    assert len(first) == 2 and len(first[0].labeled) == 4


@pytest.mark.slow
def test_a_study_logs_one_line_per_cycle_when_not_on_a_terminal(tmp_path):
    import io

    from rich.console import Console

    log = io.StringIO()
    study = tiny_study(("random",), include_full_reference=False, save_embeddings=False)
    run_study(study, tmp_path, device="cpu", console=Console(file=log, width=200))
    lines = [line for line in log.getvalue().splitlines() if " cycle " in line]
    assert [line.split(" cycle ")[1][:2] for line in lines] == ["0:", "1:", "2:"]
    assert all("labeled, mIoU" in line for line in lines)
