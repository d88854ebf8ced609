"""The budget grammar (``BudgetConfig.parse``/``label``), its schedule, and the HxW parser."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from alseg.config import BudgetConfig, TrainConfig, parse_image_size
from alseg.errors import ConfigError

percent = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def budgets(draw: st.DrawFn) -> BudgetConfig:
    """Any valid budget: percentages or absolute counts."""
    if draw(st.booleans()):
        counts = st.integers(1, 10**6), st.integers(0, 10**6), st.integers(1, 50)
        return BudgetConfig(absolute=tuple(draw(c) for c in counts))
    initial = draw(percent.filter(lambda value: value > 0))
    step = draw(st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=100)))
    steps = draw(st.integers(0, int((100 - initial) / step))) if step else 0
    until = min(initial + steps * step, 100.0)
    assume(abs((until - initial) / step - round((until - initial) / step)) < 1e-9 if step else True)
    return BudgetConfig(initial=initial, step=step, until=until)


@given(budgets())
def test_label_parses_back_to_the_same_budget(budget: BudgetConfig) -> None:
    assert BudgetConfig.parse(budget.label()) == budget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10-10@30", BudgetConfig(initial=10, step=10, until=30)),
        ("10-10", BudgetConfig(initial=10, step=10, until=50)),
        (" 2-2 ", BudgetConfig(initial=2, step=2, until=10)),
        ("2.5-2.5@12.5", BudgetConfig(initial=2.5, step=2.5, until=12.5)),
        ("1000+1000x3", BudgetConfig(absolute=(1000, 1000, 3))),
        ("1000+1000X3", BudgetConfig(absolute=(1000, 1000, 3))),
    ],
)
def test_budget_forms(text: str, expected: BudgetConfig) -> None:
    assert BudgetConfig.parse(text) == expected


def test_labels_of_common_budgets() -> None:
    assert BudgetConfig().label() == "10-10@50"
    assert BudgetConfig.parse("2-2").label() == "2-2@10"
    assert BudgetConfig(absolute=(1000, 1000, 3)).label() == "1000+1000x3"


def test_until_sets_b_of_an_i_s_budget() -> None:
    assert BudgetConfig.parse("10-10", until=30) == BudgetConfig.parse("10-10@30")
    with pytest.raises(ConfigError, match="give until once"):
        BudgetConfig.parse("10-10@30", until=40)
    with pytest.raises(ConfigError, match="until applies to I-S"):
        BudgetConfig.parse("1000+1000x3", until=40)
    with pytest.raises(ConfigError, match="until"):
        BudgetConfig.parse("10-10", until=150)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10-10-30", "write it as I-S@B, e.g. 10-10@30"),
        ("ten-ten", "not of the form I-S@B"),
        ("10%", "not of the form I-S@B"),
        ("10-10@", "not of the form"),
        ("1000+1000", "N+MxC"),
        ("0-10", "0 < initial"),
        ("30-10@20", "until"),
        ("0+10x3", "N >= 1"),
        ("10+10x0", "C >= 1"),
    ],
)
def test_bad_budget_text_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        BudgetConfig.parse(text)
    assert "\n" not in str(error.value)


def test_absolute_budget_takes_no_percentages() -> None:
    with pytest.raises(ValueError, match="no percentages"):
        BudgetConfig(initial=5, absolute=(10, 10, 2))


@pytest.mark.parametrize(
    ("text", "cycles"),
    [("10-10", 5), ("10-10@30", 3), ("10-10@40", 4), ("10-0@10", 1), ("1000+1000x3", 3)],
)
def test_cycles(text: str, cycles: int) -> None:
    budget = BudgetConfig.parse(text)
    assert budget.cycles == cycles == len(budget.schedule(10_000))


def test_schedule_floors_each_step() -> None:
    schedule = BudgetConfig(initial=10, step=10, until=50).schedule(95)
    assert [count for _, count in schedule] == [9, 18, 27, 36, 45]
    assert [round(f, 2) for f, _ in schedule] == [0.1, 0.2, 0.3, 0.4, 0.5]
    two = BudgetConfig(initial=2, step=2, until=10).schedule(2640)
    assert [count for _, count in two] == [52, 104, 156, 208, 260]


def test_absolute_schedule_like_a2d2_3k() -> None:
    schedule = BudgetConfig.parse("1000+1000x3").schedule(40_135)
    assert [count for _, count in schedule] == [1000, 2000, 3000]
    assert schedule[-1][0] == 3000 / 40_135


@pytest.mark.parametrize(
    ("budget", "pool", "message"),
    [
        (BudgetConfig(initial=2, step=2, until=10), 20, "initial set"),
        (BudgetConfig(initial=10, step=1, until=20), 50, "step"),
        (BudgetConfig(absolute=(10, 10, 5)), 30, "needs 50 images"),
    ],
)
def test_impossible_budgets(budget: BudgetConfig, pool: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        budget.schedule(pool)


@pytest.mark.parametrize(
    ("text", "pool", "fraction"),
    [("2-2", 12, 0.10), ("10-10@30", 12, 0.30), ("10-10@40", 100, 0.40), ("10+10x3", 60, 0.5)],
)
def test_final_fraction_needs_no_feasible_schedule(text: str, pool: int, fraction: float) -> None:
    assert BudgetConfig.parse(text).final_fraction(pool) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("64x128", (64, 128)),
        (" 64 X 128 ", (64, 128)),
        ((32, 64), (32, 64)),
        ([256, 512], (256, 512)),
        (np.asarray([8, 16]).tolist(), (8, 16)),
        ((np.int64(8), np.int64(16)), (8, 16)),
    ],
)
def test_image_size(value: object, size: tuple[int, int]) -> None:
    assert parse_image_size(value) == size


@pytest.mark.parametrize(
    "value", ["big", "64x", "64x128x3", "0x128", "-64x128", "64.5x128", (64, 128, 3), (True, 2),
              (64.0, 128), 64, None]
)  # fmt: skip
def test_bad_image_size_is_one_clear_line(value: object) -> None:
    with pytest.raises(ConfigError, match=r"image size .* is not HxW"):
        parse_image_size(value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"initial": 10, "step": 15, "until": 50}, r"not a budget step I \+ k\*S \(10, 25, 40"),
        ({"initial": 10, "step": 0, "until": 50}, "step 0 labels once: until must be 10"),
    ],
)
def test_item07_a_b_off_the_budget_grid_is_refused(values, message):
    with pytest.raises(ValueError, match=message):
        BudgetConfig(**values)
    assert BudgetConfig(initial=10, step=0, until=10).cycles == 1


def test_fixed_iterations_replace_the_epochs_and_the_floor() -> None:
    train = TrainConfig(epochs=10, min_iterations=100, batch_size=8)
    assert [train.iterations(n) for n in (8, 800)] == [100, 1000]
    fixed = TrainConfig(epochs=10, min_iterations=100, batch_size=8, fixed_iterations=150)
    assert [fixed.iterations(n) for n in (8, 800)] == [150, 150]
