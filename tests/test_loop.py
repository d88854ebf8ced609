import numpy as np
import pytest
import torch

from alseg.config import BudgetConfig, ExperimentConfig, TrainConfig
from alseg.errors import ConfigError
from alseg.loop import Setup, budget_schedule, initial_set, iterate_cycles, summarize
from tests.fakes import BlobDataset

TINY_TRAIN = TrainConfig(epochs=1, min_iterations=3, batch_size=4, channels_last=False)


def tiny_setup(strategy: str = "entropy", **overrides) -> Setup:
    config = ExperimentConfig(
        strategy=strategy,
        train=TINY_TRAIN,
        budget=BudgetConfig(initial=20, step=20, until=60),
        model={"weights": "none"},
        **overrides,
    )
    return Setup(config, BlobDataset(4, 5), BlobDataset(2, 3, seed=9), torch.device("cpu"))


def test_budget_schedule_floors_each_step():
    schedule = budget_schedule(BudgetConfig(initial=10, step=10, until=50), 95)
    assert [count for _, count in schedule] == [9, 18, 27, 36, 45]
    assert [round(f, 2) for f, _ in schedule] == [0.1, 0.2, 0.3, 0.4, 0.5]
    two = budget_schedule(BudgetConfig(initial=2, step=2, until=10), 2640)
    assert [count for _, count in two] == [52, 104, 156, 208, 260]


def test_absolute_budget_like_a2d2_3k():
    schedule = budget_schedule(BudgetConfig(absolute=(1000, 1000, 3)), 40_135)
    assert [count for _, count in schedule] == [1000, 2000, 3000]


@pytest.mark.parametrize(
    ("budget", "pool", "message"),
    [
        (BudgetConfig(initial=2, step=2, until=10), 20, "initial set"),
        (BudgetConfig(initial=10, step=1, until=20), 50, "step"),
        (BudgetConfig(absolute=(10, 10, 5)), 30, "needs 50 images"),
    ],
)
def test_impossible_budgets(budget, pool, message):
    with pytest.raises(ConfigError, match=message):
        budget_schedule(budget, pool)


def test_budget_parse_errors():
    with pytest.raises(ConfigError, match="I-S"):
        BudgetConfig.parse("ten-ten")
    with pytest.raises(ConfigError, match="until"):
        BudgetConfig.parse("10-10", until=150)


def test_initial_set_is_shared_and_seeded():
    assert np.array_equal(initial_set(50, 5, seed=3), initial_set(50, 5, seed=3))
    assert not np.array_equal(initial_set(50, 5, seed=3), initial_set(50, 5, seed=4))


def test_loop_adds_k_new_images_per_cycle_and_is_deterministic():
    results = list(iterate_cycles(tiny_setup()))
    assert [r.labeled for r in results] == [4, 8, 12]
    seen = set()
    for r in results:
        assert len(r.added) == 4 and seen.isdisjoint(r.added)
        seen |= set(r.added)
        assert 0.0 <= r.miou <= 100.0
    assert results[1].diagnostics["picks"] == 4
    again = list(iterate_cycles(tiny_setup()))
    assert [r.added for r in again] == [r.added for r in results]
    assert [r.miou for r in again] == pytest.approx([r.miou for r in results])


def test_strategies_share_the_initial_set():
    entropy = next(iterate_cycles(tiny_setup("entropy")))
    random = next(iterate_cycles(tiny_setup("random")))
    assert entropy.added == random.added


def test_summary_auc_and_full_reference():
    setup = tiny_setup()
    result = summarize(setup, list(iterate_cycles(setup)))
    mious = [c.miou for c in result.cycles]
    assert result.miou_at_budget == mious[-1]
    assert result.auc_at_budget == pytest.approx(
        0.2 * (mious[0] + mious[1]) / 2 + 0.2 * (mious[1] + mious[2]) / 2
    )
    full = tiny_setup("full")
    reference = summarize(full, list(iterate_cycles(full)))
    assert len(reference.cycles) == 1 and reference.cycles[0].labeled == 20
    assert reference.auc_at_budget == pytest.approx(reference.miou_at_budget * 0.4)


@pytest.mark.parametrize(
    "name",
    [
        "random",
        "entropy",
        "entropy-minmax",
        "equal",
        "equal-consistency",
        "bald",
        "coreset",
        "uniform",
        "uniform5-entropy",
        "typiclust",
        "diverse-entropy",
    ],  # fmt: skip
)
def test_every_strategy_runs_in_the_loop(name):
    setup = tiny_setup(name, strategy_options={"mc_passes": 3})
    setup.config = setup.config.model_copy(
        update={"budget": BudgetConfig(initial=20, step=20, until=40)}
    )
    results = list(iterate_cycles(setup))
    assert [r.labeled for r in results] == [4, 8]
    assert len(set(results[1].added) | set(results[0].added)) == 8
