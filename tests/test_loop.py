import numpy as np
import pytest
import torch

from alseg.acquisition.registry import get_strategy, list_strategies
from alseg.config import BudgetConfig, ExperimentConfig, TrainConfig
from alseg.loop import LoopHooks, LoopState, Setup, initial_set, run_loop, summarize
from tests.fakes import BlobDataset

TINY_TRAIN = TrainConfig(epochs=1, min_iterations=3, batch_size=4, channels_last=False)
#: Options that make a strategy cheap enough for a unit test.
FAST_OPTIONS = {"bald": {"mc_passes": 3}}


def tiny_setup(strategy: str = "entropy", **overrides) -> Setup:
    config = ExperimentConfig(
        strategy=strategy,
        train=TINY_TRAIN,
        budget=BudgetConfig(initial=20, step=20, until=60),
        model={"weights": "none"},
        **overrides,
    )
    return Setup(config, BlobDataset(4, 5), BlobDataset(2, 3, seed=9), torch.device("cpu"))


def test_initial_set_is_shared_and_seeded():
    assert np.array_equal(initial_set(50, 5, seed=3), initial_set(50, 5, seed=3))
    assert not np.array_equal(initial_set(50, 5, seed=3), initial_set(50, 5, seed=4))


@pytest.mark.slow
def test_loop_adds_k_new_images_per_cycle_and_is_deterministic():
    results = list(run_loop(tiny_setup()))
    assert [r.labeled for r in results] == [4, 8, 12]
    seen = set()
    for r in results:
        assert len(r.added) == 4 and seen.isdisjoint(r.added)
        seen |= set(r.added)
    assert [r.acquired for r in results[:-1]] == [r.added for r in results[1:]]
    assert results[-1].acquired == [] and results[-1].diagnostics == {}
    assert results[0].diagnostics["picks"] == 4
    again = list(run_loop(tiny_setup()))
    assert [r.added for r in again] == [r.added for r in results]
    assert [r.miou for r in again] == [r.miou for r in results]


def test_strategies_share_the_initial_set():
    entropy = next(run_loop(tiny_setup("entropy")))
    random = next(run_loop(tiny_setup("random")))
    assert entropy.added == random.added


def test_cycle_results_are_immutable():
    result = next(run_loop(tiny_setup("random")))
    with pytest.raises(ValueError):
        result.miou = 0.0


@pytest.mark.slow
def test_summary_auc_and_full_reference():
    setup = tiny_setup()
    result = summarize(setup, list(run_loop(setup)))
    mious = [c.miou for c in result.cycles]
    assert result.miou_at_budget == mious[-1]
    assert result.auc_at_budget == pytest.approx(
        0.2 * (mious[0] + mious[1]) / 2 + 0.2 * (mious[1] + mious[2]) / 2
    )
    assert result.label == "Entropy"
    full = tiny_setup("full")
    reference = summarize(full, list(run_loop(full)))
    assert len(reference.cycles) == 1 and reference.cycles[0].labeled == 20
    assert reference.cycles[0].acquired == []
    assert reference.auc_at_budget == pytest.approx(reference.miou_at_budget * 0.4)
    assert reference.label == "100%"


class Recorder(LoopHooks):
    """Records finished cycles; can hand the engine a model instead of training one."""

    def __init__(self, model=None):
        self.done: list[tuple[int, list[int]]] = []
        self.model = model
        self.trained = 0

    def trained_cycle(self, state, train):
        self.trained += 1
        return train()

    def cycle_done(self, result, model, state):
        self.done.append((result.cycle, sorted(state.labeled.tolist())))


def test_hooks_see_every_cycle_with_its_state():
    hooks = Recorder()
    results = list(run_loop(tiny_setup("random"), hooks))
    assert hooks.trained == 3
    assert [cycle for cycle, _ in hooks.done] == [0, 1, 2]
    for (_, labeled), result in zip(hooks.done, results, strict=True):
        assert len(labeled) == result.labeled


@pytest.mark.slow
def test_resuming_from_a_state_repeats_the_remaining_cycles_exactly():
    """What a study does after a kill: restore the state after cycle 0, run cycles 1 and 2."""
    setup = tiny_setup("coreset")
    whole = list(run_loop(setup))
    first = whole[0]
    labeled = np.asarray(first.added + first.acquired)
    state = LoopState(1, labeled, np.asarray(first.acquired))
    resumed = list(run_loop(tiny_setup("coreset"), state=state))
    assert [r.cycle for r in resumed] == [1, 2]
    assert [r.added for r in resumed] == [r.added for r in whole[1:]]
    assert [r.miou for r in resumed] == [r.miou for r in whole[1:]]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_strategies())
def test_every_registered_strategy_runs_in_the_loop(name):
    setup = tiny_setup(name, strategy_options=FAST_OPTIONS.get(name, {}))
    setup.pool = BlobDataset(4, 10)  # every 5th frame (uniform5-entropy) leaves 8
    setup.config = setup.config.model_copy(
        update={"budget": BudgetConfig(initial=10, step=10, until=20)}
    )
    results = list(run_loop(setup))
    one_shot = get_strategy(name).one_shot
    assert [r.labeled for r in results] == ([8] if one_shot else [4, 8])
    assert len(set().union(*(r.added for r in results))) == 8


@pytest.mark.slow
def test_a_trained_model_clears_the_learnability_floor():
    """On the blobs every class is learnable: 60 iterations give mIoU well above the constant
    predictor (background everywhere: about 27) with every class found; 1 iteration does not."""

    def reference(iterations: int):
        train = TrainConfig(
            epochs=1, min_iterations=iterations, batch_size=4, channels_last=False,
            lr_backbone=0.05, lr_head=0.05,
        )  # fmt: skip
        config = ExperimentConfig(
            strategy="full", train=train,
            model={"encoder": "mobilenetv3_small_050", "weights": "none"},
        )  # fmt: skip
        setup = Setup(config, BlobDataset(4, 5), BlobDataset(2, 3, seed=9), torch.device("cpu"))
        return next(run_loop(setup))

    trained, barely = reference(60), reference(1)
    assert trained.miou > 50.0 and min(trained.per_class_iou.values()) > 20.0
    assert barely.miou < 40.0


@pytest.mark.slow
def test_uniform5_entropy_stays_in_its_subset_from_the_initial_set_on():
    """The paper subsamples every 5th frame once, then runs Entropy on that subset."""
    setup = tiny_setup("uniform5-entropy")
    setup.pool = BlobDataset(2, 25)  # 2 sequences of 25 frames: a subset of 10
    setup.config = setup.config.model_copy(
        update={"budget": BudgetConfig(initial=4, step=4, until=12)}
    )
    results = list(run_loop(setup))
    chosen = [i for r in results for i in r.added]
    assert [r.labeled for r in results] == [2, 4, 6]
    assert all(setup.pool.meta(i).frame % 5 == 0 for i in chosen)
    random = next(run_loop(tiny_setup("random")))
    assert results[0].added != random.added  # its own initial set


@pytest.mark.slow
def test_one_shot_uniform_labels_the_whole_budget_in_one_cycle():
    setup = tiny_setup("uniform-oneshot")
    (result,) = run_loop(setup)
    assert result.cycle == 0 and result.labeled == 12 and result.acquired == []
    frames = sorted(setup.pool.meta(i).frame for i in result.added)
    assert frames == [0] * 4 + [2] * 4 + [4] * 4  # frames 0, 2, 4 of each of the 4 drives


def test_the_100_percent_auc_spans_an_absolute_budget_too():
    """A2D2-3K's 100% row: mIoU x (3,000 - 1,000) / N, not 0."""
    setup = tiny_setup("full")
    setup.config = setup.config.model_copy(update={"budget": BudgetConfig(absolute=(4, 4, 3))})
    result = next(run_loop(setup))
    reference = summarize(setup, [result])
    assert reference.auc_at_budget == pytest.approx(result.miou * (12 - 4) / 20)
