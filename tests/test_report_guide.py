"""Table 7 from synthetic results: every cell a study can decide, agreeing, contradicting and
undecided, the SSL half included; BALD stays in its own block."""

from __future__ import annotations

import numpy as np
import pytest

from alseg.acquisition.registry import FULL
from alseg.config import ExperimentConfig, build
from alseg.report.guide import AGREES, CONTRADICTS, GuideCell, guide_cells
from alseg.report.ranking import marked, rank_blocks
from alseg.report.records import budget_ms
from alseg.report.stats import NO_DATA, UNDECIDED
from alseg.report.tables import result_tables, summarize
from alseg.study.config import StudyConfig
from tests.report_helpers import Mious, synthetic_records

LOW, HIGH = "2-2@10", "10-10@50"
METHODS = [(s, ssl) for ssl in ("none", "s4gan") for s in ("random", "entropy", "coreset", "bald")]
#: Seed effects shared by every method (same seed = same initial set).
SEED_SHIFT = (0.0, 0.8, -0.6)
#: Mean mIoU level per (pool, budget) and (strategy, SSL) where the guide's pick wins clearly.
AGREEING = {
    ("0f", LOW): {
        ("random", "none"): 40, ("entropy", "none"): 36, ("coreset", "none"): 37,
        ("random", "s4gan"): 44, ("entropy", "s4gan"): 41, ("coreset", "s4gan"): 41,
    },
    ("0f", HIGH): {
        ("random", "none"): 47, ("entropy", "none"): 50, ("coreset", "none"): 48,
        ("random", "s4gan"): 50, ("entropy", "s4gan"): 53, ("coreset", "s4gan"): 51,
    },
    ("11f", LOW): {
        ("random", "none"): 37, ("entropy", "none"): 36, ("coreset", "none"): 40,
        ("random", "s4gan"): 37, ("entropy", "s4gan"): 35, ("coreset", "s4gan"): 38,
    },
    ("11f", HIGH): {
        ("random", "none"): 46, ("entropy", "none"): 48, ("coreset", "none"): 50,
        ("random", "s4gan"): 48, ("entropy", "s4gan"): 49, ("coreset", "s4gan"): 53,
    },
}  # fmt: skip
#: Every cell of Table 7: (pool, budget, setting) -> (the guide's label, its pick in the study).
CELLS = {
    ("0f", LOW, "AL"): ("Random", "Random"),
    ("0f", LOW, "SSL-AL (s4gan)"): ("Random-SSL", "Random-SSL (s4gan)"),
    ("0f", HIGH, "AL"): ("Single (e.g. Entropy)", "Entropy"),
    ("0f", HIGH, "SSL-AL (s4gan)"): ("Single-SSL", "Entropy-SSL (s4gan)"),
    ("11f", LOW, "AL"): ("Batch (Coreset)", "Coreset"),
    ("11f", LOW, "SSL-AL (s4gan)"): ("Batch", "Coreset"),
    ("11f", HIGH, "AL"): ("Batch", "Coreset"),
    ("11f", HIGH, "SSL-AL (s4gan)"): ("Batch-SSL", "Coreset-SSL (s4gan)"),
}
#: Per cell, a method outside the guide's pick that then wins clearly (the SSL half: the pick's
#: family with SSL switched the other way).
RIVALS = {
    ("0f", LOW, "AL"): (("entropy", "none"), 43),
    ("0f", LOW, "SSL-AL (s4gan)"): (("random", "none"), 47),
    ("0f", HIGH, "AL"): (("random", "none"), 53),
    ("0f", HIGH, "SSL-AL (s4gan)"): (("entropy", "none"), 56),
    ("11f", LOW, "AL"): (("entropy", "none"), 43),
    ("11f", LOW, "SSL-AL (s4gan)"): (("coreset", "s4gan"), 43),
    ("11f", HIGH, "AL"): (("entropy", "none"), 53),
    ("11f", HIGH, "SSL-AL (s4gan)"): (("coreset", "none"), 56),
}


def study(seeds: tuple[int, ...] = (0, 1, 2), bald: bool = False) -> StudyConfig:
    return build(
        StudyConfig,
        name="guide",
        pools=[{"kind": "0f", "size": 1000}, {"kind": "11f", "size": 1000}],
        strategies=["random", "entropy", "coreset"] + ["bald"] * bald,
        ssl=["none", "s4gan"],
        budgets=[LOW, HIGH],
        seeds=list(seeds),
    )


def mious_from(levels: dict) -> Mious:
    """Rising curves at each method's level, the seed's shift and a small per-method jitter."""

    def mious(config: ExperimentConfig) -> list[float]:
        if config.strategy == FULL:
            return [60.0 + SEED_SHIFT[config.seed]]
        key = (config.strategy, config.ssl.method)
        level = levels[(config.pool.kind, config.budget.label())].get(key, 60.0)  # BALD: 60
        jitter = np.random.default_rng(METHODS.index(key)).normal(0.0, 0.1, 3)[config.seed]
        base = level + SEED_SHIFT[config.seed] + jitter
        return [base + 2 * c for c in range(config.budget.cycles)]

    return mious


def cells(levels: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[tuple, GuideCell]:
    records = synthetic_records(study(seeds), mious_from(levels))
    summaries = summarize(records, budget_ms(records))
    return {(c.pool, c.budget, c.setting): c for c in guide_cells(summaries, records)}


def with_level(cell: tuple[str, str, str], method: tuple[str, str], level: float) -> dict:
    levels = {key: dict(value) for key, value in AGREEING.items()}
    levels[cell[:2]][method] = level
    return levels


def test_the_study_fills_every_cell_of_table_7():
    table = cells(AGREEING)
    assert set(table) == set(CELLS)
    for key, (guide, pick) in CELLS.items():
        cell = table[key]
        assert (cell.guide, cell.guide_pick) == (guide, pick), key
        assert cell.redundancy == ("diverse" if key[0] == "0f" else "redundant")
        assert cell.budget_regime == ("low" if key[1] == LOW else "high")


@pytest.mark.parametrize("key", list(CELLS))
def test_a_cell_agrees_when_the_guides_pick_wins_clearly(key):
    cell = cells(AGREEING)[key]
    assert cell.best == CELLS[key][1] and cell.clear and cell.tied == ""
    assert cell.verdict == AGREES
    assert cell.gap < 0 and cell.gap_high < 0 and cell.gap_p_holm < 0.05


@pytest.mark.parametrize("key", list(CELLS))
def test_a_cell_contradicts_when_another_method_wins_clearly(key):
    method, level = RIVALS[key]
    cell = cells(with_level(key, method, level))[key]
    assert cell.best != CELLS[key][1] and cell.clear
    assert cell.verdict == CONTRADICTS


@pytest.mark.parametrize(
    ("key", "rival", "level"),
    [
        (("0f", LOW, "AL"), ("entropy", "none"), 40),  # Random's level
        (("11f", LOW, "SSL-AL (s4gan)"), ("coreset", "s4gan"), 40),  # Coreset's level
        (("11f", HIGH, "SSL-AL (s4gan)"), ("random", "s4gan"), 53),  # Coreset-SSL's level
    ],
)
def test_a_tie_that_includes_the_guides_pick_is_undecided(key, rival, level):
    cell = cells(with_level(key, rival, level))[key]
    assert not cell.clear and CELLS[key][1] in (cell.best, *cell.tied.split(", "))
    assert cell.verdict == UNDECIDED


def test_a_single_seed_decides_nothing():
    table = cells(AGREEING, seeds=(0,))
    assert {cell.verdict for cell in table.values()} == {UNDECIDED}
    assert not any(cell.clear for cell in table.values())


def test_bald_is_ranked_only_against_mc_dropout_networks():
    records = synthetic_records(study(bald=True), mious_from(AGREEING))  # BALD: the best numbers
    summaries = summarize(records, budget_ms(records))
    summaries = marked(summaries, rank_blocks(summaries))
    table = next(t for t in result_tables(summaries) if HIGH in t.title)
    rows = {row[0][0]: row for row in table.rows}
    labels = list(rows)
    assert labels[-3:] == ["BALD", "BALD-SSL (s4gan)", "100% (MCD)"] and labels[-4] == "100%"
    assert rows["Entropy-SSL (s4gan)"][2] == ("22.80 ± 0.26", True)  # 0f AUC@50: best of block
    for label in labels[-3:]:
        assert not any(bold for _, bold in rows[label][1:])
    assert rows["BALD"][2][0].endswith("(tied)")  # tied with BALD-SSL, its own block
    for cell in guide_cells(summaries, records):
        assert "BALD" not in " ".join((cell.best, cell.runner_up, cell.tied, cell.best_miou_at_m))


def test_a_one_shot_baseline_without_auc_does_not_block_a_verdict():
    one_shot = build(StudyConfig, **{**study().model_dump(), "strategies": ["random", "entropy",
                     "coreset", "uniform-oneshot"]})  # fmt: skip
    levels = mious_from(AGREEING)

    def mious(config: ExperimentConfig) -> list[float]:
        if config.strategy == "uniform-oneshot":
            return [70.0 + config.seed]  # the best mIoU@B, but no curve
        return levels(config)

    records = synthetic_records(one_shot, mious)
    summaries = summarize(records, budget_ms(records))
    table = {(c.pool, c.budget, c.setting): c for c in guide_cells(summaries, records)}
    assert table[("0f", LOW, "AL")].verdict == AGREES
    rankings = rank_blocks(summaries)
    auc = {r.name: r for r in rankings[("synthdrive", LOW, "0f", False)]["auc_at_budget"]}
    assert auc["Uniform (one shot)"].verdict == NO_DATA
    assert auc["Uniform (one shot)"].estimate.text() == "-"
