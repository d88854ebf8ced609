"""The against-Random tables: per-class gains paired by seed, and saturation, by hand."""

from __future__ import annotations

from dataclasses import replace

from alseg.config import build
from alseg.report.against_random import against_random_tables
from alseg.report.records import RunRecord
from alseg.study.config import StudyConfig
from tests.report_helpers import synthetic_records

SEEDS = [0, 1, 2, 3]


def study() -> StudyConfig:
    return build(
        StudyConfig,
        name="t",
        pools=[{"dataset": "synthdrive", "kind": "21f", "size": 2100}],
        strategies=["random", "entropy"],
        budgets=["10-10@30"],
        seeds=SEEDS,
    )


def mious(config) -> list[float]:
    if config.strategy == "full":
        return [40.0 + config.seed]
    if config.strategy == "random":
        return [20.0 + config.seed, 21.0 + config.seed, 22.0 + config.seed]
    return [20.0 + config.seed, 20.0 + config.seed, 20.0 + 1.5 * config.seed]


def with_class_iou(record: RunRecord) -> RunRecord:
    """road: Random 50 + seed, Entropy 0.2·seed more plus 5; car: 10 in both; bus: never seen."""
    extra = 5 + 0.2 * record.seed if record.strategy == "entropy" else 0.0
    iou = {"road": 50.0 + record.seed + extra, "car": 10.0, "bus": None}
    last = record.cycles[-1]
    result = last.result.model_copy(update={"per_class_iou": iou})
    return replace(record, cycles=[*record.cycles[:-1], replace(last, result=result)])


def test_per_class_gains_and_saturation_by_hand():
    records = [with_class_iou(r) for r in synthetic_records(study(), mious)]
    per_class, saturation = against_random_tables(records)

    assert per_class.header == ["Class", "Random IoU", "Entropy − Random"]
    rows = {row[0][0]: row for row in per_class.rows}
    assert set(rows) == {"road", "car"}  # bus has no IoU in any run
    # road: differences 5.0, 5.2, 5.4, 5.6 (mean 5.3, CI above 0: bold); Random 50..53
    assert rows["road"][1][0].startswith("51.5 ±")
    assert rows["road"][2][0].startswith("+5.3 [") and rows["road"][2][1]
    assert rows["car"][2] == ("+0.0 (no variance, n=4)", False)

    lines = {row[0][0]: row for row in saturation.rows}
    # Random gains 2 in every seed; Entropy 0.5·seed (0, 0.5, 1, 1.5: mean 0.75)
    assert lines["Random"][3] == ("+2.0 (no variance, n=4)", False)
    assert lines["Entropy"][3][0].startswith("+0.8 [")
    # 100% reference: mean 41.5; Random's last step: mean 23.5; Entropy's: 22.25
    assert lines["Random"][4][0] == "+18.0"
    assert lines["Entropy"][4][0] == "+19.2"
    assert "41.5" in saturation.note


def test_no_table_without_random():
    records = [r for r in synthetic_records(study(), mious) if r.strategy != "random"]
    assert against_random_tables(records) == []
