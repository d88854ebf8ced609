"""mIoU@M beside AUC@B: the paper's default M = I + 2S, any budget step on request, one-line
ConfigErrors for other values; in results.json, ``alseg run``'s table and the study report."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from rich.console import Console

from alseg.acquisition.registry import FULL
from alseg.cli.progress import cycles_table
from alseg.config import BudgetConfig, ExperimentConfig, build
from alseg.cycle import CycleResult
from alseg.errors import ConfigError
from alseg.loop import Setup, summarize
from alseg.metrics import budget_steps, default_m, miou_at_step, step_index
from alseg.report.build import write_report
from alseg.results import save_results
from alseg.study.config import StudyConfig
from tests.fakes import BlobDataset
from tests.report_helpers import NO_EVALUATION, write_store


@pytest.mark.parametrize(
    ("budget", "steps", "m"),
    [
        ("10-10@50", [10, 20, 30, 40, 50], 30),  # the paper: mIoU@30 with AUC@50
        ("5-5@25", [5, 10, 15, 20, 25], 15),
        ("2-2@10", [2, 4, 6, 8, 10], 6),  # mIoU@6 with AUC@10
        ("10-10@20", [10, 20], 20),  # shorter than I + 2S: the last step
        ("1000+1000x3", [1000, 2000, 3000], 3000),  # absolute: the last step, in images
    ],
)
def test_default_m_is_i_plus_2s(budget, steps, m):
    config = BudgetConfig.parse(budget)
    assert budget_steps(config) == steps and default_m(config) == m
    assert step_index(config, m) == steps.index(m)


def test_a_value_that_is_no_budget_step_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as error:
        step_index(BudgetConfig.parse("5-5@25"), 12)
    assert (
        str(error.value)
        == "mIoU@12 is not a step of budget 5-5@25; its steps are 5, 10, 15, 20, 25"
    )


def test_a_one_shot_run_has_only_b():
    budget = BudgetConfig.parse("10-10@50")
    assert miou_at_step(budget, [50.0], 50) == 50.0
    assert math.isnan(miou_at_step(budget, [50.0], 30))
    assert miou_at_step(budget, [10.0, 20.0, 30.0, 40.0, 50.0], 30) == 30.0
    with pytest.raises(ConfigError, match="steps are 10, 20, 30, 40, 50"):
        miou_at_step(budget, [50.0], 35)


def setup_and_cycles(strategy: str, budget: str) -> tuple[Setup, list[CycleResult]]:
    config = build(ExperimentConfig, strategy=strategy, budget=BudgetConfig.parse(budget))
    steps = [1.0] if strategy == FULL else [s / 100 for s in budget_steps(config.budget)]
    steps = steps[-1:] if strategy == "uniform-oneshot" else steps
    cycles = [
        CycleResult(
            **NO_EVALUATION,
            miou=40.0 + 3 * c,
            cycle=c,
            labeled=10 * (c + 1),
            fraction=f,
            nominal_fraction=f,
            added=[],
            added_ids=[],
            acquired=[],
            score_seconds=0.0,
            diagnostics={},
        )  # fmt: skip
        for c, f in enumerate(steps)
    ]
    pool, val = BlobDataset(10, 10), BlobDataset(2, 3)  # summarize reads only sizes and notes
    return Setup(config, pool, val, torch.device("cpu")), cycles


def test_results_json_holds_miou_at_m(tmp_path):
    setup, cycles = setup_and_cycles("entropy", "5-5@25")
    result = summarize(setup, cycles)
    assert (result.m, result.miou_at_m, result.miou_at_budget) == (15, 46.0, 52.0)
    saved = json.loads(save_results(result, tmp_path).read_text())
    assert saved["m"] == 15 and saved["miou_at_m"] == 46.0
    assert summarize(setup, cycles, miou_at=10).miou_at_m == 43.0
    with pytest.raises(ConfigError, match="steps are 5, 10, 15, 20, 25"):
        summarize(setup, cycles, miou_at=30)


def test_a_one_shot_run_has_no_auc_and_no_miou_before_b(tmp_path):
    setup, cycles = setup_and_cycles("uniform-oneshot", "10-10@50")
    result = summarize(setup, cycles)
    assert result.m == 30 and math.isnan(result.miou_at_m) and math.isnan(result.auc_at_budget)
    saved = json.loads(save_results(result, tmp_path).read_text())
    assert saved["miou_at_m"] is None and saved["auc_at_budget"] is None
    assert summarize(setup, cycles, miou_at=50).miou_at_m == 40.0
    console = Console(width=200, record=True)
    console.print(cycles_table(result))
    assert "mIoU@30 -   mIoU@B 40.00   AUC@B -" in console.export_text()


def test_the_full_reference_reports_its_one_miou_at_m():
    setup, cycles = setup_and_cycles(FULL, "10-10@50")
    result = summarize(setup, cycles)
    assert (result.m, result.miou_at_m) == (30, 40.0)


def test_run_table_shows_miou_at_m_beside_auc():
    setup, cycles = setup_and_cycles("random", "2-2@10")
    console = Console(width=200, record=True)
    console.print(cycles_table(summarize(setup, cycles)))
    text = console.export_text()
    assert "mIoU@6 46.00" in text and "AUC@B" in text and "mIoU@B 52.00" in text


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mstudy")
    study = build(
        StudyConfig,
        name="m",
        pools=[{"kind": "0f", "size": 400}],
        strategies=["random", "entropy"],
        budgets=["10-10@50", "2-2@10"],
        seeds=[0, 1],
    )
    mious = {"random": [30.0, 32, 34, 36, 38], "entropy": [30.0, 31, 35, 37, 41], FULL: [60.0]}
    write_store(directory, study, lambda c: [m + c.seed for m in mious[c.strategy]])
    return directory


def test_report_uses_the_default_m_per_budget(study_dir):
    report = write_report(study_dir, study_dir / "default")
    titles = [t.title for t in report.result_tables]
    assert titles == [
        "synthdrive, budget 10-10@50: mIoU@30 and AUC@50",
        "synthdrive, budget 2-2@10: mIoU@6 and AUC@10",
    ]
    runs = list(csv.DictReader((study_dir / "default" / "runs.csv").open()))
    entropy = next(r for r in runs if r["method"] == "Entropy" and r["budget"] == "10-10@50")
    assert (float(entropy["m"]), float(entropy["miou_at_m"])) == (30.0, 35.0 + int(entropy["seed"]))


def test_report_option_picks_m(study_dir):
    report = write_report(study_dir, study_dir / "m", miou_at={"10-10@50": 50, "2-2": 4})
    markdown = (study_dir / "m" / "report.md").read_text()
    assert [t.header[1] for t in report.result_tables] == ["0f mIoU@50", "0f mIoU@4"]
    assert "| Entropy | 41.50 ± 0.71" in markdown  # mIoU@50 = the last cycle, seeds 41 and 42
    with pytest.raises(ConfigError, match="^mIoU@30 is not a step of budget 2-2@10; its steps"):
        write_report(study_dir, study_dir / "bad", miou_at=30)
    with pytest.raises(ConfigError, match="budget.s. 5-5@25 that no run used"):
        write_report(study_dir, study_dir / "bad", miou_at={"5-5@25": 15})
