"""The contract every registered strategy must keep (in the style of scikit-activeml's template
test): k distinct unlabeled picks, deterministic for a seed, options validated, explanations."""

import numpy as np
import pytest

from alseg.acquisition.base import Family, PoolView
from alseg.acquisition.explain import explain_picks
from alseg.acquisition.registry import FULL, check_strategy, get_strategy, list_strategies
from alseg.errors import ConfigError

N, K = 60, 7


def pool_view(needs: frozenset[str], seed: int = 0) -> PoolView:
    """3 sequences of 20 frames, 6 labeled, random per-image results for every need."""
    rng = np.random.default_rng(seed)
    labeled = np.array([0, 5, 21, 30, 44, 59])
    unlabeled = np.setdiff1d(np.arange(N), labeled)
    results = {
        need: rng.normal(size=(N, 8) if need == "embedding" else N).astype(np.float32)
        for need in needs
    }
    sequences = [f"seq{i // 20}" for i in range(N)]
    return PoolView(labeled, unlabeled, sequences, np.arange(N) % 20, results)


@pytest.mark.parametrize("name", list_strategies())
def test_strategy_contract(name):
    strategy = get_strategy(name)
    options = strategy.parse_options()
    view = pool_view(strategy.needs(options))
    picks = np.asarray(strategy.select(view, K, np.random.default_rng(3), options))
    assert picks.dtype.kind == "i" and picks.shape == (K,)
    assert len(set(picks.tolist())) == K and np.isin(picks, view.unlabeled).all()
    again = strategy.select(view, K, np.random.default_rng(3), options)
    assert np.array_equal(picks, again)
    explanations = explain_picks(strategy, view, picks, options, near_duplicate_radius=0.1)
    assert len(explanations) == K and all(reason for _, reason in explanations)
    assert isinstance(strategy.family, Family) and strategy.title and strategy.description
    with pytest.raises(ConfigError, match="no_such_option"):
        strategy.parse_options({"no_such_option": 1})


def test_options_are_typed_and_set_the_needs():
    bald = get_strategy("bald")
    assert bald.needs_for({"mc_passes": 5}) == {"mc:5"}
    with pytest.raises(ConfigError, match="mc_passes"):
        bald.parse_options({"mc_passes": 1})
    assert get_strategy("entropy-minmax").needs_for() == {"entropy:minmax"}
    assert get_strategy("entropy").needs_for({"normalize": "minmax"}) == {"entropy:minmax"}
    with pytest.raises(ConfigError, match="normalize"):
        get_strategy("entropy").parse_options({"normalize": "zscore"})
    assert get_strategy("equal-consistency").needs_for() == {"equal:consistency"}


def test_unknown_names_list_what_is_allowed():
    with pytest.raises(ConfigError, match="allowed: .*coreset"):
        get_strategy("corset")
    with pytest.raises(ConfigError, match="cannot import"):
        get_strategy("no_such_module:thing")
    with pytest.raises(ConfigError, match="has no .np. .a Strategy"):
        get_strategy("tests.toy_strategy:np")
    check_strategy(FULL)
    with pytest.raises(ConfigError, match="no strategy options"):
        check_strategy(FULL, {"mc_passes": 3})


def test_a_strategy_from_outside_the_package_is_found_by_import_path():
    toy = get_strategy("tests.toy_strategy:latest_frames")
    assert toy.name == "toy-latest-frames" and "toy-latest-frames" in list_strategies()
    view = pool_view(frozenset())
    picks = toy.select(view, 3, np.random.default_rng(0), toy.parse_options({"stride": 2}))
    latest = sorted(view.unlabeled.tolist(), key=lambda i: -view.frames[i])  # stable
    assert picks.tolist() == latest[0:6:2]
