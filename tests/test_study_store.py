import sqlite3

import pytest

from alseg.config import BudgetConfig, ExperimentConfig
from alseg.cycle import CycleResult, Evaluation
from alseg.errors import DataError
from alseg.study.store import DB_NAME, CycleRow, SharedRow, Store
from alseg.study.worker import shared_key


def config(strategy: str = "entropy", **values) -> ExperimentConfig:
    return ExperimentConfig(strategy=strategy, **values)


def evaluation(miou: float) -> Evaluation:
    return Evaluation(
        miou=miou, per_class_iou={"a": miou, "b": None}, train_seconds=1.0, eval_seconds=0.5,
        train_loss=0.25,
    )  # fmt: skip


def result(cycle: int, miou: float, added: list[int], acquired: list[int], **extra) -> CycleResult:
    return CycleResult(
        **evaluation(miou).model_dump(), cycle=cycle, labeled=2 * (cycle + 1), fraction=0.5,
        nominal_fraction=0.5, added=added, added_ids=[f"s/{i}" for i in added],
        acquired=acquired, score_seconds=0.1, diagnostics=extra,
    )  # fmt: skip


def row(cycle: int, miou: float = 50.0) -> CycleRow:
    return CycleRow([1, 2], result(cycle, miou, [2], [3, 4], picks=2))


def test_cycles_round_trip_and_finish_the_run(tmp_path):
    store = Store(tmp_path)
    run = config()
    store.register([run])
    assert store.statuses() == {run.key(): "pending"}
    store.mark_started(run.key())
    store.commit_cycle(run.key(), row(0, 40.0), final=False)
    assert store.statuses()[run.key()] == "running"
    last = CycleRow([1, 2, 3, 4], result(1, 45.5, [3, 4], [], nan=float("nan")))
    store.commit_cycle(run.key(), last, True)
    rows = store.cycles(run.key())
    assert rows[0] == row(0, 40.0)
    assert rows[1].result.diagnostics["nan"] != rows[1].result.diagnostics["nan"]  # NaN kept
    assert rows[1].labeled == last.labeled and rows[1].acquired == [] and rows[1].added == [3, 4]
    (stored,) = store.runs()
    assert stored.status == "done" and stored.config == run and stored.finished is not None
    assert store.cycle_counts() == {run.key(): 2}


def test_register_keeps_known_runs_and_adds_new_ones(tmp_path):
    store = Store(tmp_path)
    first, second = config("random"), config("coreset")
    store.register([first])
    store.commit_cycle(first.key(), row(0), final=True)
    store.register([first, second])
    assert store.statuses() == {first.key(): "done", second.key(): "pending"}


def test_a_cycle_out_of_turn_or_twice_is_refused_and_writes_nothing(tmp_path):
    store = Store(tmp_path)
    run = config()
    store.register([run])
    with pytest.raises(RuntimeError, match="out of turn"):
        store.commit_cycle(run.key(), row(1), final=True)
    assert store.cycles(run.key()) == [] and store.statuses()[run.key()] == "pending"
    store.commit_cycle(run.key(), row(0), final=False)
    with pytest.raises(RuntimeError, match="out of turn"):
        store.commit_cycle(run.key(), row(0, 99.0), final=True)
    assert store.cycles(run.key()) == [row(0)]


def test_failed_runs_keep_their_error_but_done_runs_stay_done(tmp_path):
    store = Store(tmp_path)
    broken, finished = config("random"), config("entropy")
    store.register([broken, finished])
    store.commit_cycle(finished.key(), row(0), final=True)
    store.mark_failed(broken.key(), "RuntimeError: boom")
    store.mark_failed(finished.key(), "late error")
    runs = {r.key: r for r in store.runs()}
    assert (
        runs[broken.key()].status == "failed" and runs[broken.key()].error == "RuntimeError: boom"
    )
    assert runs[finished.key()].status == "done" and runs[finished.key()].error is None
    store.mark_started(broken.key())
    assert store.statuses()[broken.key()] == "running"


def test_shared_rows_and_meta(tmp_path):
    store = Store(tmp_path)
    shared = SharedRow(
        "c0-x", {"seed": 0}, [5, 1], evaluation(12.5), "checkpoints/c0-x.pt", None, "ab" * 32
    )
    assert store.shared("c0-x") is None
    store.put_shared(shared)
    assert store.shared("c0-x") == shared
    store.save_meta("runs", ["a", "b"])
    assert store.meta("runs") == ["a", "b"] and store.meta("missing") is None


def test_wal_mode_and_rollback_journal(tmp_path):
    Store(tmp_path / "wal")
    Store(tmp_path / "shared", wal=False)
    for name, mode in (("wal", "wal"), ("shared", "delete")):
        with sqlite3.connect(tmp_path / name / DB_NAME) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == mode


def test_a_gap_in_the_cycles_is_reported(tmp_path):
    store = Store(tmp_path)
    run = config()
    store.register([run])
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT INTO cycles VALUES (?, 1, '[]', '[]', '[]', '{}', NULL, 0, NULL)", (run.key(),)
        )
    with pytest.raises(DataError, match="gap"):
        store.cycles(run.key())


def test_a_cycle_of_another_schema_is_a_data_error(tmp_path):
    store = Store(tmp_path)
    run = config()
    store.register([run])
    with sqlite3.connect(store.path) as db:
        db.execute(
            "INSERT INTO cycles VALUES (?, 0, '[]', '[]', '[]', '{\"miou\": 1}', NULL, 0, NULL)",
            (run.key(),),
        )
    with pytest.raises(DataError, match="schema"):
        store.cycles(run.key())


def test_a_file_that_is_no_database_is_a_data_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="study.sqlite"):
        Store(tmp_path)


def test_shared_key_ignores_only_what_acquisition_uses():
    entropy = config("entropy", budget=BudgetConfig(initial=10, step=10, until=50))
    assert shared_key(config("random")) == shared_key(entropy) == shared_key(config("coreset"))
    assert shared_key(config("bald", strategy_options={"mc_passes": 5})) == shared_key(
        config("bald")
    )
    longer = config("random", budget=BudgetConfig(initial=10, step=5, until=30))
    assert shared_key(longer) == shared_key(entropy)  # same initial set
    assert shared_key(config("bald")) != shared_key(entropy)  # trains with MC dropout
    assert shared_key(config("entropy", seed=1)) != shared_key(entropy)
    assert shared_key(config("entropy", budget=BudgetConfig(initial=5, step=5))) != shared_key(
        entropy
    )
    assert shared_key(config("entropy", ssl={"method": "s4gan"})) != shared_key(entropy)
    assert shared_key(config("full")) is None


def test_item11_stored_paths_never_leave_the_study_folder(tmp_path):
    from alseg.study.worker import _stored_shared

    store = Store(tmp_path)
    for outside in ("/etc/passwd", "../../etc/passwd"):
        store.put_shared(SharedRow("c0-x", {}, [1], evaluation(1.0), outside, None))
        assert _stored_shared(store, "c0-x") is None  # trained again, the file never opened
        with pytest.raises(DataError, match="leaves the study folder"):
            store.checked_checkpoint(outside)
