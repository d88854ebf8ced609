"""Study budgets: every form of the budget grammar, as YAML strings or mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alseg.config import BudgetConfig, build
from alseg.errors import ConfigError
from alseg.study.config import StudyConfig, expand
from alseg.study.presets import preset
from alseg.study.runner import plan_study

GRID = {"name": "grid", "pools": [{"dataset": "synthdrive", "size": 100}], "strategies": ["random"]}


def study(budgets: Any) -> StudyConfig:
    return build(StudyConfig, **GRID, budgets=budgets)


def test_budget_strings_and_mappings() -> None:
    grid = study(["10-10@30", "2-2", "1000+1000x3", {"initial": 5, "step": 5, "until": 15}])
    assert [b.label() for b in grid.budgets] == ["10-10@30", "2-2@10", "1000+1000x3", "5-5@15"]
    assert study("10-10@30").budgets == [BudgetConfig(initial=10, step=10, until=30)]


def test_a_study_with_10_10_at_30_plans_three_cycles(tmp_path: Path) -> None:
    (run, _reference) = expand(study(["10-10@30"]))
    assert run.budget.label() == "10-10@30"
    assert [count for _, count in run.budget.schedule(100)] == [10, 20, 30]
    planned = plan_study(study(["10-10@30"]), tmp_path).runs[0]
    assert planned.cycles == 3 and "10-10@30" in planned.label


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        (["10-10-30"], "write it as I-S@B, e.g. 10-10@30"),
        (["10%"], "I-S@B"),
        (["50-10@20"], "until"),
    ],
)
def test_bad_study_budgets(budgets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        study(budgets)


def test_a2d2_3k_preset_is_an_absolute_budget() -> None:
    assert preset("a2d2-3k").budgets == [BudgetConfig(absolute=(1000, 1000, 3))]
