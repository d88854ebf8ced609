"""Paired statistics over seeds, checked by hand and against scipy and statsmodels directly."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from alseg.report.stats import (
    BEST,
    NO_VARIANCE,
    TIED,
    TOO_FEW,
    UNDECIDED,
    WORSE,
    bootstrap_mean,
    clear_winner,
    holm,
    paired_difference,
    rank,
    tied_with_best,
)


def scipy_ci(values: list[float]) -> tuple[float, float]:
    """scipy's own 95% BCa interval with the report's fixed generator."""
    result = scipy_stats.bootstrap(
        (np.asarray(values, dtype=np.float64),), np.mean, rng=np.random.default_rng(0)
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def t_test_p(differences: list[float]) -> float:
    """Two-sided paired t-test by hand: t = mean / (sd / sqrt(n)), n - 1 degrees of freedom."""
    d = np.asarray(differences, dtype=np.float64)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    return float(2 * scipy_stats.t.sf(abs(t), d.size - 1))


def test_paired_differences_one_two_three():
    diff = paired_difference({0: 11.0, 1: 22.0, 2: 33.0}, {0: 10.0, 1: 20.0, 2: 30.0})
    assert diff.n == 3 and diff.mean == pytest.approx(2.0) and diff.note == ""
    assert (diff.low, diff.high) == pytest.approx(scipy_ci([1.0, 2.0, 3.0]))
    # t = 2 / (1 / sqrt 3) = 3.4641, df 2
    assert diff.p == pytest.approx(t_test_p([1.0, 2.0, 3.0]))
    assert diff.p == pytest.approx(0.0741799, rel=1e-5)
    assert diff.text() == f"+2.00 [{diff.low:+.2f}, {diff.high:+.2f}]"


def test_pairs_by_seed_and_skips_unpaired_or_missing_seeds():
    a = {0: 5.0, 1: 7.0, 2: 4.0, 3: 9.0, 4: math.nan}
    b = {2: 1.0, 1: 3.0, 0: 2.0, 4: 1.0}  # seed 3 has no partner, seed 4 no value in a
    diff = paired_difference(a, b)
    assert diff.n == 3 and diff.mean == pytest.approx((3 + 4 + 3) / 3)
    assert (diff.low, diff.high) == pytest.approx(scipy_ci([3.0, 4.0, 3.0]))
    assert diff.p == pytest.approx(scipy_stats.ttest_rel([5, 7, 4], [2, 3, 1]).pvalue)


def test_mean_ci_is_scipys_and_reproducible():
    values = [41.2, 43.9, 40.1, 44.4, 42.0]
    first, second = bootstrap_mean(values), bootstrap_mean(values)
    assert first == second
    assert first.mean == pytest.approx(np.mean(values))
    assert (first.low, first.high) == pytest.approx(scipy_ci(values))
    assert first.half_width == pytest.approx((first.high - first.low) / 2)
    assert first.text() == f"{np.mean(values):.2f} ± {first.half_width:.2f}"


@pytest.mark.parametrize("a", [{}, {0: 3.0}, {0: 3.0, 1: math.nan}])
def test_fewer_than_two_pairs_say_n_too_small(a):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diff = paired_difference(a, {0: 1.0, 1: 1.0})
    assert diff.note == TOO_FEW and math.isnan(diff.low) and math.isnan(diff.p)
    assert "too small" in diff.text() or diff.text() == "-"


@pytest.mark.parametrize("offset", [0.0, 2.0])
def test_differences_without_spread_give_a_degenerate_ci(offset):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither scipy's BCa nor its t-test may be asked
        diff = paired_difference({0: 1 + offset, 1: 5 + offset}, {0: 1.0, 1: 5.0})
    assert diff.note == NO_VARIANCE and diff.low == diff.high == pytest.approx(offset)
    assert math.isnan(diff.p) and "no variance, n=2" in diff.text()


def test_holm_by_hand_and_against_statsmodels():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.02, math.nan, 0.5]) == pytest.approx([0.04, math.nan, 0.5], nan_ok=True)
    assert holm([]) == []


def test_rank_against_the_best_with_holm_adjusted_t_tests():
    values = {
        "Coreset": {0: 50.0, 1: 52.0, 2: 51.0},
        "Entropy": {0: 49.0, 1: 52.5, 2: 50.0},  # -1, +0.5, -1: tied
        "Random": {0: 45.0, 1: 47.2, 2: 45.9},  # -5, -4.8, -5.1: worse
    }
    ranking = rank(values)
    assert [r.name for r in ranking] == ["Coreset", "Entropy", "Random"]
    assert [r.verdict for r in ranking] == [BEST, TIED, WORSE]
    p_entropy, p_random = t_test_p([-1.0, 0.5, -1.0]), t_test_p([-5.0, -4.8, -5.1])
    assert ranking[1].diff.p == pytest.approx(p_entropy)
    assert ranking[2].diff.p == pytest.approx(p_random)
    # Holm over 2 tests: the smaller p (Random's) x 2, the larger x 1 but not below the first
    assert p_random < p_entropy
    assert ranking[2].p_holm == pytest.approx(2 * p_random)
    assert ranking[1].p_holm == pytest.approx(max(2 * p_random, p_entropy))
    assert ranking[2].diff.high < 0 and ranking[2].p_holm < 0.05
    assert not clear_winner(ranking) and tied_with_best(ranking) == {"Coreset", "Entropy"}


def test_a_clear_winner_beats_every_other_method():
    ranking = rank({"Random": {0: 40.0, 1: 41.0, 2: 42.0}, "Entropy": {0: 36.9, 1: 38.1, 2: 38.8}})
    assert [r.verdict for r in ranking] == [BEST, WORSE]
    assert clear_winner(ranking) and tied_with_best(ranking) == set()


def test_a_ci_excluding_zero_is_not_enough_without_the_t_test():
    # differences -1, -2, -3: the bootstrap CI lies below 0 but p = 0.074
    ranking = rank({"A": {0: 11.0, 1: 22.0, 2: 33.0}, "B": {0: 10.0, 1: 20.0, 2: 30.0}})
    assert ranking[1].diff.high < 0 and ranking[1].p_holm == pytest.approx(0.0741799, rel=1e-5)
    assert ranking[1].verdict == TIED and not clear_winner(ranking)


def test_one_seed_is_undecided_and_a_lone_method_no_winner():
    ranking = rank({"A": {0: 50.0}, "B": {0: 40.0}})
    assert [r.verdict for r in ranking] == [BEST, UNDECIDED]
    assert not clear_winner(ranking) and tied_with_best(ranking) == set()
    assert not clear_winner(rank({"A": {0: 1.0, 1: 2.0}}))
    assert rank({}) == []
