import csv
import importlib.util
import io
import math
import statistics
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from alseg.config import build
from alseg.cycle import CycleResult, Evaluation
from alseg.errors import DataError
from alseg.io import atomic_write_bytes
from alseg.report.build import write_report
from alseg.report.curves import BAND, budget_figure
from alseg.report.records import load_records, redundancy
from alseg.report.tables import Stat
from alseg.study.config import StudyConfig, expand
from alseg.study.store import CycleRow, SharedRow, Store
from alseg.study.worker import shared_key

# mIoU per cycle (10%, 20%, 30% labeled) for seeds 0 and 1; references: mIoU of seeds 0 and 1.
MIOUS = {
    "11f": {
        "random": ([30, 34, 38], [32, 36, 42]),
        "entropy": ([30, 35, 41], [32, 37, 43]),
        "coreset": ([30, 36, 44], [32, 38, 44]),
        "full": ([50], [54]),
    },
    "0f": {
        "random": ([30, 40, 46], [32, 42, 48]),
        "entropy": ([30, 38, 45], [32, 40, 47]),
        "coreset": ([30, 36, 40], [32, 38, 42]),
        "full": ([60], [60]),
    },
}
SEQUENCES = {"random": 5, "entropy": 2, "coreset": 4}  # distinct sequences per acquisition
EMBEDDED = 40  # images with embeddings in the synthetic npz
NO_EVALUATION = {"per_class_iou": {}, "train_seconds": 0.0, "eval_seconds": 0.0, "train_loss": 0.0}


def synthetic_study() -> StudyConfig:
    return build(
        StudyConfig,
        name="synthetic",
        pools=[{"kind": "11f", "size": 400}, {"kind": "0f", "size": 400}],
        strategies=["random", "entropy", "coreset"],
        budgets=["10-10@30"],
        seeds=[0, 1],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of a synthetic store (written once for the module's tests)."""
    tmp_path = tmp_path_factory.mktemp("study")
    write_synthetic_store(tmp_path)
    return write_report(tmp_path, tmp_path / "out")


def write_synthetic_store(tmp_path):
    store = Store(tmp_path)
    configs = expand(synthetic_study())
    store.register(configs)
    store.save_meta("runs", [c.key() for c in configs])
    rng = np.random.default_rng(0)
    for config in configs:
        mious = MIOUS[config.pool.kind][config.strategy][config.seed]
        picks = [[4 + i + 4 * j for i in range(4)] for j in range(2)]
        if config.strategy == "coreset":
            picks = [[20 + p for p in cycle] for cycle in picks]
        labeled = [0, 1, 2, 3]
        for cycle, miou in enumerate(mious):
            last = cycle + 1 == len(mious)
            acquired = [] if last or config.strategy == "full" else picks[cycle]
            diagnostics = (
                {}
                if not acquired
                else {
                    "distinct_sequences": SEQUENCES[config.strategy],
                    "distinct_groups": 3,
                    "near_duplicate_share": 0.25,
                }
            )
            fraction = 1.0 if config.strategy == "full" else 0.1 * (cycle + 1)
            result = CycleResult(
                **NO_EVALUATION, miou=miou, cycle=cycle, labeled=len(labeled), fraction=fraction,
                nominal_fraction=fraction, added=[], added_ids=[], acquired=acquired,
                score_seconds=0.0, diagnostics=diagnostics,
            )  # fmt: skip
            store.commit_cycle(config.key(), CycleRow(labeled, result), last)
            labeled = labeled + acquired
        key = shared_key(config)
        if config.seed == 0 and key is not None and store.shared(key) is None:
            path = f"embeddings/{key}.npz"
            buffer = io.BytesIO()
            np.savez(buffer, embeddings=rng.normal(size=(EMBEDDED, 16)).astype(np.float16))
            atomic_write_bytes(tmp_path / path, buffer.getvalue())
            evaluation = Evaluation(miou=0.0, **NO_EVALUATION)
            store.put_shared(
                SharedRow(key, {}, [0, 1, 2, 3], evaluation, "checkpoints/none.pt", path)
            )
    return store


@pytest.mark.skipif(importlib.util.find_spec("openTSNE") is None, reason="needs openTSNE")
def test_item11_a_damaged_or_outside_embeddings_file_is_a_note(tmp_path):
    store = write_synthetic_store(tmp_path)
    first, second = sorted((tmp_path / "embeddings").glob("*.npz"))
    first.write_bytes(first.read_bytes()[:50])  # truncated
    row = store.shared(second.stem)
    store.put_shared(replace(row, embeddings="/etc/passwd"))
    result = write_report(tmp_path, tmp_path / "out")
    (note,) = [n for n in result.notes if n.startswith("no t-SNE")]
    assert f"{first} is damaged" in note and f"{second.stem}: no stored embeddings" in note


def test_report_tables_match_hand_computed_numbers(report):
    markdown = (report.out_dir / "report.md").read_text()
    # Budget 10-10@30: M = I + 2S = 30 = B. Two seeds whose paired differences are constant or
    # of n = 2 decide nothing: every AL method is tied with the best, none is bold.
    rows = [
        # 11f: AUC = 0.05 (m0 + 2 m1 + m2); seeds 6.8/7.3, 7.05/7.45, 7.3/7.6; 100%: 52 x 0.2
        "| Random | 40.00 ± 2.83 (tied) | 7.05 ± 0.35 (tied) | 47.00 ± 1.41 (tied) "
        "| 8.00 ± 0.28 (tied) |",
        "| Entropy | 42.00 ± 1.41 (tied) | 7.25 ± 0.28 (tied) | 46.00 ± 1.41 (tied) "
        "| 7.75 ± 0.28 (tied) |",
        "| Coreset | 44.00 ± 0.00 (tied) | 7.45 ± 0.21 (tied) | 41.00 ± 1.41 (tied) "
        "| 7.30 ± 0.28 (tied) |",
        "| 100% | 52.00 ± 2.83 | 10.40 ± 0.57 | 60.00 ± 0.00 | 12.00 ± 0.00 |",
    ]
    for row in rows:
        assert row in markdown
    assert "| Method | 11f mIoU@30 | 11f AUC@30 | 0f mIoU@30 | 0f AUC@30 |" in markdown
    assert "**" not in markdown.split("## Ranking")[0]
    html = (report.out_dir / "report.html").read_text()
    assert "<td>44.00 ± 0.00 (tied)</td>" in html and "<td>52.00 ± 2.83</td>" in html
    for name in ("summary.csv", "ranking.csv", "runs.csv", "best.csv"):
        assert (report.out_dir / name).stat().st_size > 0
    for stem in ("synthdrive-11f-10-10_30", "synthdrive-0f-10-10_30"):
        for suffix in ("png", "pdf", "svg"):
            assert (report.out_dir / "curves" / f"{stem}.{suffix}").stat().st_size > 1000
    if importlib.util.find_spec("openTSNE") is None:
        assert report.notes == [
            "openTSNE is not installed (pip install 'alseg[tsne]'): no t-SNE figures"
        ]
    else:
        assert len(list((report.out_dir / "tsne").glob("*.png"))) == 2  # per pool, seed 0 only
        assert report.notes == []


def test_curves_are_vector_and_high_resolution(report):
    stem = report.out_dir / "curves" / "synthdrive-11f-10-10_30"
    with Image.open(stem.with_suffix(".png")) as png:
        assert png.size == (1200, 800)  # 6 x 4 inches at 200 dpi
        assert png.info["dpi"] == pytest.approx((200, 200), abs=0.1)
    assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in stem.with_suffix(".svg").read_bytes()


def test_curves_state_the_band_and_tick_the_budget_steps(report):
    records = load_records(Store(report.out_dir.parent))
    members = [r for r in records if r.pool == "11f" and not r.is_reference]
    references = [r for r in records if r.pool == "11f" and r.is_reference]
    figure = budget_figure(members, references, ["random", "entropy", "coreset"], "11f")
    axes = figure.axes[0]
    assert axes.get_legend().get_title().get_text() == BAND
    assert "std" in BAND and "seeds" in BAND
    assert list(axes.get_xticks()) == [10, 20, 30]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["10", "20", "30"]
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert "Random (n=2)" in labels and "100% (n=2)" in labels


def test_summary_csv_against_the_statistics_module(report):
    rows = list(csv.DictReader((report.out_dir / "summary.csv").open()))
    entropy = next(r for r in rows if r["pool"] == "11f" and r["method"] == "Entropy")
    assert float(entropy["m"]) == 30.0
    assert float(entropy["miou_at_m_mean"]) == float(entropy["miou_mean"]) == pytest.approx(42.0)
    assert float(entropy["miou_std"]) == pytest.approx(statistics.stdev([41, 43]), rel=1e-5)
    aucs = [0.05 * (m[0] + 2 * m[1] + m[2]) for m in MIOUS["11f"]["entropy"]]
    assert float(entropy["auc_mean"]) == pytest.approx(statistics.mean(aucs), rel=1e-5)
    assert float(entropy["distinct_sequences"]) == 2.0
    assert entropy["miou_at_m_mark"] == entropy["auc_mark"] == "tied"
    reference = next(r for r in rows if r["pool"] == "0f" and r["method"] == "100%")
    assert reference["reference"] == "True" and float(reference["auc_mean"]) == pytest.approx(12.0)
    assert reference["auc_mark"] == ""


def test_best_method_per_scenario_against_the_guide(report):
    best = {r["pool"]: r for r in csv.DictReader((report.out_dir / "best.csv").open())}
    assert best["11f"]["redundancy"] == "redundant" and best["11f"]["budget_regime"] == "high"
    assert best["11f"]["best"] == "Coreset" and best["11f"]["guide"] == "Batch"
    assert best["11f"]["guide_pick"] == "Coreset" and best["11f"]["tied"] == "Entropy, Random"
    assert float(best["11f"]["gap"]) == pytest.approx(-0.2)  # AUC@30: Entropy - Coreset
    assert best["0f"]["best"] == "Random" and best["0f"]["guide"].startswith("Single")
    assert best["0f"]["runner_up"] == "Entropy" and best["0f"]["guide_pick"] == "Entropy"
    # two seeds with constant or n = 2 paired differences: a tie, so the guide is undecided
    assert best["11f"]["verdict"] == best["0f"]["verdict"] == "undecided"
    assert best["11f"]["clear"] == best["0f"]["clear"] == "False"


def test_report_without_results_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="alseg study"):
        write_report(tmp_path)
    Store(tmp_path)
    with pytest.raises(DataError, match="no finished run"):
        write_report(tmp_path)


@pytest.mark.parametrize(
    ("dataset", "kind", "regime"),
    [
        ("synthdrive", "0f", "diverse"),
        ("pascal_voc", "all", "diverse"),
        ("a2d2", "all", "redundant"),
        ("a2d2", "11f", "redundant"),
        ("a2d2", "aug", "redundant"),
        ("a2d2", "2f", "moderate"),
        ("a2d2", "list:pools/pool_21f/lab_images_100.txt", "redundant"),
        ("a2d2", "list:mine.txt", "unknown"),
    ],
)
def test_redundancy_regime_of_pool_kinds(dataset, kind, regime):
    assert redundancy(dataset, kind) == regime


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=8))
def test_stat_is_the_mean_and_sample_std(values):
    stat = Stat.of(values)
    assert stat.n == len(values)
    assert math.isclose(stat.mean, statistics.fmean(values), rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(stat.std, statistics.stdev(values), rel_tol=1e-6, abs_tol=1e-6)
