"""Two strategies, three seeds: ``alseg report`` shows mIoU@M, AUC@B, the paired difference with
its CI and a verdict in the terminal, Markdown, HTML and CSV; numbers checked against scipy."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from alseg.acquisition.registry import FULL
from alseg.config import ExperimentConfig, build
from alseg.study.config import StudyConfig
from tests.cli_helpers import alseg_in_process
from tests.report_helpers import write_store

BASE = (30.0, 31.0, 29.0)  # Random's cycle-0 mIoU per seed (shared by both strategies)
A = (4.0, 4.2, 3.9)  # Entropy - Random at 20%, 40% and 50%
E = (1.0, 2.0, 3.0)  # Entropy - Random at 30% (M = I + 2S)


def mious(config: ExperimentConfig) -> list[float]:
    s = config.seed
    if config.strategy == FULL:
        return [60.0 + s]
    random = [BASE[s] + 4 * c for c in range(5)]
    if config.strategy == "random":
        return random
    return [m + d for m, d in zip(random, (0.0, A[s], E[s], A[s], A[s]), strict=True)]


def scipy_ci(values: np.ndarray) -> tuple[float, float]:
    ci = stats.bootstrap((values,), np.mean, rng=np.random.default_rng(0)).confidence_interval
    return float(ci.low), float(ci.high)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acceptance")
    study = build(
        StudyConfig,
        name="two",
        pools=[{"kind": "11f", "size": 400}],
        strategies=["random", "entropy"],
        budgets=["10-10@50"],
        seeds=[0, 1, 2],
    )
    write_store(directory, study, mious)
    return directory


def expected() -> dict[str, tuple[float, str, float]]:
    """Random - Entropy per metric: (mean, 'mean [low, high]', paired t-test p), by hand."""
    auc_diff = -0.1 * (2.5 * np.asarray(A) + np.asarray(E))  # trapezoid, cycle 0 shared
    miou_diff = -np.asarray(E)
    result = {}
    for metric, diff in (("auc_at_budget", auc_diff), ("miou_at_m", miou_diff)):
        low, high = scipy_ci(diff)
        p = stats.ttest_rel(diff, np.zeros(3)).pvalue
        result[metric] = (diff.mean(), f"{diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]", p)
    return result


def test_report_prints_paired_statistics_everywhere(study_dir, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "320")
    run = alseg_in_process(
        "report", str(study_dir), cwd=study_dir, monkeypatch=monkeypatch, capsys=capsys
    )
    assert run.returncode == 0, run.stderr
    out = study_dir / "report"
    auc, miou = expected()["auc_at_budget"], expected()["miou_at_m"]
    assert auc[2] < 0.05 < miou[2]  # AUC@50: Random worse; mIoU@30: a tie
    assert miou[1] == "-2.00 [-3.00, -1.00]"
    for text in ("mIoU@30", "AUC@50", "Δ to best", auc[1], miou[1], "worse", "tied with best"):
        assert text in run.stdout, text
    markdown = (out / "report.md").read_text()
    assert "| Method | 11f mIoU@30 | 11f AUC@50 |" in markdown
    assert f"| {auc[1]} | {auc[2]:.3f} | worse |" in markdown
    assert f"| {miou[1]} | {miou[2]:.3f} | tied with best |" in markdown
    assert "| **best** |" in markdown and "| best (tied) |" in markdown
    html = (out / "report.html").read_text()
    assert f"<td>{auc[1]}</td>" in html and "<td>worse</td>" in html
    assert "<td><b>best</b></td>" in html and "<td>tied with best</td>" in html
    rows = list(csv.DictReader((out / "ranking.csv").open()))
    random = {r["metric"]: r for r in rows if r["method"] == "Random"}
    for metric, (mean, _, p) in expected().items():
        assert float(random[metric]["diff_to_best"]) == pytest.approx(mean, rel=1e-5)
        assert float(random[metric]["p"]) == pytest.approx(p, rel=1e-5)
        assert float(random[metric]["p_holm"]) == pytest.approx(p, rel=1e-5)  # one comparison
    assert random["auc_at_budget"]["verdict"] == "worse"
    assert random["miou_at_m"]["verdict"] == "tied with best"
    assert random["miou_at_m"]["step"] == "30" and random["auc_at_budget"]["step"] == "50"


def test_results_table_bolds_only_a_significant_winner(study_dir):
    markdown = (study_dir / "report" / "report.md").read_text()
    entropy = next(line for line in markdown.splitlines() if line.startswith("| Entropy |"))
    random = next(line for line in markdown.splitlines() if line.startswith("| Random |"))
    # Random: mIoU@30 = base + 8; AUC@50 = 0.1 (base / 2 + 3 base + 24 + (base + 16) / 2)
    assert entropy.count("(tied)") == 1 and entropy.endswith("** |")
    assert random == "| Random | 38.00 ± 1.00 (tied) | 15.20 ± 0.40 |"
    summary = {r["method"]: r for r in csv.DictReader((study_dir / "report/summary.csv").open())}
    assert summary["Entropy"]["auc_mark"] == "best" and summary["Random"]["auc_mark"] == ""
    assert summary["Random"]["miou_at_m_mark"] == summary["Entropy"]["miou_at_m_mark"] == "tied"
    assert float(summary["Random"]["m"]) == 30.0
    assert float(summary["Entropy"]["miou_at_m_mean"]) == pytest.approx(40.0)
    assert float(summary["Entropy"]["miou_mean"]) == pytest.approx(46.0 + np.mean(A))
