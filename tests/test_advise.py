from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.advise import (
    GUIDE,
    REDUNDANT_THRESHOLD,
    advise,
    budget_regime,
    final_labeled_fraction,
    recommend,
    redundancy_index,
    sequence_neighbour_pairs,
    temporal_runs,
)
from alseg.errors import ConfigError
from alseg.neighbours import NEAR_DUPLICATE_FRACTION

# --- synthetic pools that mimic the paper's Pool-0f / Pool-Xf / Pool-Aug ---------------------

DIM = 32
POOL = 660
SEQUENCES = 20
SEQUENCE_LENGTH = 5000
SLOT = 25  # frames between possible group starts, so groups never touch
#: Near-duplicate fraction for these pools. Their independent images are compact: in Pool-0f an
#: image's nearest neighbour sits at 0.39-0.53 of the typical distance (5-95%), where synthdrive's
#: consecutive frames sit, so the default 0.5 (calibrated on synthdrive's ImageNet embeddings)
#: calls Pool-0f redundant (index 0.64); 0.35 separates their groups from their independent images.
SYNTHETIC_FRACTION = 0.35


def mixture(rng: np.random.Generator, n: int, clusters: int = 8) -> np.ndarray:
    """Independent images: a mixture of clusters (drives, scenes) with wide spread."""
    centers = rng.standard_normal((clusters, DIM))
    return centers[rng.integers(clusters, size=n)] + 0.8 * rng.standard_normal((n, DIM))


def random_frames(rng: np.random.Generator, n: int, spacing: int = 1) -> tuple[list, list]:
    """n distinct (sequence, frame) positions, frames multiple of ``spacing``."""
    slots = rng.choice(SEQUENCES * SEQUENCE_LENGTH // spacing, size=n, replace=False)
    return [f"drive{s // (SEQUENCE_LENGTH // spacing)}" for s in slots], [
        int(s % (SEQUENCE_LENGTH // spacing)) * spacing for s in slots
    ]


def pool_0f(seed: int) -> tuple[np.ndarray, list, list]:
    rng = np.random.default_rng(seed)
    sequences, frames = random_frames(rng, POOL)
    return mixture(rng, POOL), sequences, frames


def pool_xf(seed: int, x: int, step: float = 0.3) -> tuple[np.ndarray, list, list]:
    """POOL // x anchors, each followed by x - 1 consecutive frames (a small random walk)."""
    rng = np.random.default_rng(seed)
    groups = POOL // x
    anchors = mixture(rng, groups)
    walk = np.cumsum(step / np.sqrt(DIM) * rng.standard_normal((groups, x, DIM)), axis=1)
    walk[:, 0] = 0.0
    embeddings = (anchors[:, None, :] + walk).reshape(groups * x, DIM)
    anchor_seq, anchor_frame = random_frames(rng, groups, spacing=SLOT)
    sequences = [s for s in anchor_seq for _ in range(x)]
    frames = [f + t for f in anchor_frame for t in range(x)]
    return embeddings, sequences, frames


def pool_aug(seed: int, copies: int = 5, jitter: float = 0.5) -> tuple[np.ndarray, list, list]:
    """Anchors, each with ``copies`` jittered duplicates (same sequence and frame)."""
    rng = np.random.default_rng(seed)
    groups = POOL // (copies + 1)
    anchors = mixture(rng, groups)
    noise = jitter / np.sqrt(DIM) * rng.standard_normal((groups, copies + 1, DIM))
    noise[:, 0] = 0.0
    embeddings = (anchors[:, None, :] + noise).reshape(-1, DIM)
    anchor_seq, anchor_frame = random_frames(rng, groups)
    sequences = [s for s in anchor_seq for _ in range(copies + 1)]
    frames = [f for f in anchor_frame for _ in range(copies + 1)]
    return embeddings, sequences, frames


POOLS = {
    "0f": pool_0f,
    "5f": lambda seed: pool_xf(seed, 5),
    "11f": lambda seed: pool_xf(seed, 11),
    "21f": lambda seed: pool_xf(seed, 21),
    "aug": pool_aug,
}


@pytest.fixture(scope="module", params=[False, True], ids=["embeddings", "with-metadata"])
def pool_reports(request) -> dict:
    reports = {}
    for name, make in POOLS.items():
        embeddings, sequences, frames = make(seed=3)
        if request.param:
            reports[name] = redundancy_index(
                embeddings, sequences, frames, near_duplicate_fraction=SYNTHETIC_FRACTION
            )
        else:
            reports[name] = redundancy_index(embeddings, near_duplicate_fraction=SYNTHETIC_FRACTION)
    return reports


def test_index_ranks_pools_by_redundancy(pool_reports):
    indices = [pool_reports[name].index for name in ("0f", "5f", "11f", "21f")]
    assert indices == sorted(indices) and len(set(indices)) == 4, indices


def test_ranking_holds_when_only_nearby_frames_are_near_duplicates():
    # Larger motion: consecutive frames at about a fifth of the typical distance, frames a few
    # steps apart beyond the near-duplicate radius; embeddings only.
    indices = [redundancy_index(pool_xf(4, x, step=2.5)[0]).index for x in (2, 5, 11, 21)]
    assert indices == sorted(indices) and len(set(indices)) == 4, indices
    assert indices[1] >= REDUNDANT_THRESHOLD


def test_regimes_of_synthetic_pools(pool_reports):
    assert pool_reports["0f"].regime == "diverse"
    assert pool_reports["0f"].index < 0.1
    for name in ("5f", "11f", "21f", "aug"):
        assert pool_reports[name].regime == "redundant", name


def test_index_matches_group_scale_on_clean_groups(pool_reports):
    # Groups of g mutual near-duplicates give 1 - 1/g (module docstring).
    for name, g in (("5f", 5), ("11f", 11), ("aug", 6)):
        assert pool_reports[name].index == pytest.approx(1 - 1 / g, abs=0.02), name
        assert pool_reports[name].mean_group_size == pytest.approx(g, rel=0.1), name


def test_parts_of_redundant_and_diverse_pools(pool_reports):
    diverse, redundant = pool_reports["0f"], pool_reports["11f"]
    assert diverse.near_duplicate_share < 0.1 < 0.9 < redundant.near_duplicate_share
    assert redundant.nn_distance_ratio < 0.1 < 0.35 < diverse.nn_distance_ratio <= 1.0
    if redundant.temporal_adjacency is not None:
        assert redundant.temporal_adjacency == 1.0
        assert redundant.temporal_redundancy == pytest.approx(1 - 1 / 11)
        assert diverse.temporal_adjacency < 0.05
        assert diverse.temporal_window == 1


def test_hand_computed_report_on_a_line():
    points = np.array([[0.0], [0.1], [10.0], [20.0], [30.0]])
    report = redundancy_index(points)
    # Sorted pair distances: .1 9.9 10 10 10 | 19.9 20 20 29.9 30 -> median (10 + 19.9) / 2.
    assert report.typical_distance == pytest.approx(14.95)
    assert NEAR_DUPLICATE_FRACTION == 0.5
    assert report.near_duplicate_radius == pytest.approx(0.5 * 14.95)
    # Radius 7.475: only 0 and 0.1 are near-duplicates (one each): (1/2 + 1/2 + 0 + 0 + 0) / 5.
    assert report.embedding_redundancy == pytest.approx(0.2, abs=1e-6)
    assert report.index == report.embedding_redundancy
    assert report.near_duplicate_share == pytest.approx(0.4)
    # Nearest-neighbour distances .1 .1 9.9 10 10 -> median 9.9.
    assert report.nn_distance_ratio == pytest.approx(9.9 / 14.95, rel=1e-5)
    assert report.regime == "diverse"
    assert report.temporal_redundancy is None and report.temporal_adjacency is None


def test_metadata_enters_as_the_mean_of_both_estimates():
    points = np.array([[0.0], [0.1], [10.0], [20.0], [30.0]])
    # Runs: {a0, a1, a2}, {a9}, {b0} -> 1 - 3/5 = 0.4 temporal redundancy.
    report = redundancy_index(points, ["a", "a", "a", "a", "b"], [0, 1, 2, 9, 0])
    assert report.temporal_redundancy == pytest.approx(0.4)
    assert report.temporal_adjacency == pytest.approx(3 / 5)
    assert report.index == pytest.approx((0.2 + 0.4) / 2, abs=1e-6)


def test_identical_embeddings_are_fully_redundant():
    report = redundancy_index(np.full((8, 4), 3.25, dtype=np.float32))
    assert report.typical_distance == 0.0
    assert report.near_duplicate_share == 1.0
    assert report.nn_distance_ratio == 0.0
    assert report.index == pytest.approx(1 - 1 / 8)
    assert report.regime == "redundant"


def test_report_to_dict_is_json_ready():
    embeddings, sequences, frames = pool_xf(0, 5)
    data = redundancy_index(embeddings, sequences, frames).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["mean_group_size"] == pytest.approx(1 / (1 - data["index"]))


@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        (np.zeros((1, 4)), "at least 2"),
        (np.zeros((0, 4)), "at least 2"),
        (np.zeros(5), "N x D"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ],
)
def test_bad_embeddings_raise_config_error(embeddings, message):
    with pytest.raises(ConfigError, match=message):
        redundancy_index(embeddings)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sequences": ["a", "b", "c"]},
        {"frames": [0, 1, 2]},
        {"sequences": ["a", "b"], "frames": [0, 1, 2]},
        {"sequences": ["a", "b", "c"], "frames": [0.5, 1, 2]},
        {"near_duplicate_fraction": 0.0},
        {"near_duplicate_fraction": 1.5},
        {"temporal_window": -1},
        {"redundant_threshold": 1.0},
        {"pair_sample": 0},
        {"chunk": 0},
    ],
)
def test_bad_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        redundancy_index(np.eye(3), **kwargs)


# --- temporal runs --------------------------------------------------------------------------------


def test_temporal_runs_by_hand():
    sequences = ["a", "b", "a", "a", "b", "a"]
    frames = [10, 0, 1, 0, 2, 2]
    runs, adjacent = temporal_runs(sequences, frames, window=1)
    # a: {0, 1, 2}, {10}; b: {0}, {2}.
    assert runs == 4
    assert adjacent.tolist() == [False, False, True, True, False, True]
    runs, adjacent = temporal_runs(sequences, frames, window=2)
    assert runs == 3 and adjacent.tolist() == [False, True, True, True, True, True]


def test_sequence_neighbour_pairs_by_hand():
    sequences = ["a", "b", "a", "a", "b", "a"]
    frames = [10, 0, 1, 0, 2, 2]
    # frame order: a: rows 3, 2, 5, 0 (frames 0, 1, 2, 10); b: rows 1, 4.
    first, second = sequence_neighbour_pairs(sequences, frames, offsets=2)
    pairs = sorted(zip(first.tolist(), second.tolist(), strict=True))
    assert pairs == [(1, 4), (2, 0), (2, 5), (3, 2), (3, 5), (5, 0)]
    first, second = sequence_neighbour_pairs(["a", "b"], [0, 0])
    assert first.size == second.size == 0


# --- properties ---------------------------------------------------------------------------------


@st.composite
def small_pools(draw):
    """Random pools with exact duplicates, near-duplicates and optional metadata."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 30))
    dim = draw(st.integers(1, 6))
    bases = rng.standard_normal((draw(st.integers(1, n)), dim)) * draw(
        st.sampled_from([0.1, 1, 10])
    )
    points = bases[rng.integers(len(bases), size=n)]
    points = points + draw(st.sampled_from([0.0, 0.01, 1.0])) * rng.standard_normal((n, dim))
    if draw(st.booleans()):
        return points, None, None
    sequences = [str(s) for s in rng.integers(3, size=n)]
    return points, sequences, [int(f) for f in rng.integers(20, size=n)]


@settings(max_examples=60, deadline=None)
@given(small_pools())
def test_index_and_parts_lie_in_unit_interval(pool):
    report = redundancy_index(*pool)
    assert 0.0 <= report.index < 1.0
    assert report.regime == ("redundant" if report.index >= REDUNDANT_THRESHOLD else "diverse")
    for part in (
        report.embedding_redundancy,
        report.near_duplicate_share,
        report.nn_distance_ratio,
    ):
        assert 0.0 <= part <= 1.0
    if pool[1] is not None:
        assert 0.0 <= report.temporal_redundancy < 1.0
        assert 0.0 <= report.temporal_adjacency <= 1.0


@settings(max_examples=60, deadline=None)
@given(small_pools())
def test_duplicating_every_image_never_lowers_redundancy(pool):
    points, sequences, frames = pool
    doubled = (
        np.vstack([points, points]),
        None if sequences is None else sequences * 2,
        None if frames is None else frames * 2,
    )
    assert redundancy_index(*doubled).index >= redundancy_index(*pool).index - 1e-12


@settings(max_examples=60, deadline=None)
@given(small_pools(), st.integers(0, 2**32 - 1))
def test_index_does_not_depend_on_pool_order(pool, seed):
    points, sequences, frames = pool
    order = np.random.default_rng(seed).permutation(len(points))
    shuffled = (
        points[order],
        None if sequences is None else [sequences[i] for i in order],
        None if frames is None else [frames[i] for i in order],
    )
    before, after = redundancy_index(*pool), redundancy_index(*shuffled)
    assert after.index == pytest.approx(before.index, abs=1e-12)
    assert after.near_duplicate_share == pytest.approx(before.near_duplicate_share, abs=1e-12)


# --- the paper's guide -------------------------------------------------------------------------

TABLE_7 = [
    # regime, budget, ssl, label, strategy, ssl method
    ("diverse", "low", False, "Random", "random", "none"),
    ("diverse", "low", True, "Random-SSL", "random", "s4gan"),
    ("diverse", "high", False, "Single (e.g. Entropy)", "entropy", "none"),
    ("diverse", "high", True, "Single-SSL", "entropy", "s4gan"),
    ("redundant", "low", False, "Batch (Coreset)", "coreset", "none"),
    ("redundant", "low", True, "Batch", "coreset", "none"),
    ("redundant", "high", False, "Batch", "coreset", "none"),
    ("redundant", "high", True, "Batch-SSL", "coreset", "s4gan"),
]


@pytest.mark.parametrize(("regime", "budget", "ssl", "label", "strategy", "method"), TABLE_7)
def test_every_cell_of_the_guide(regime, budget, ssl, label, strategy, method):
    rec = recommend(regime, budget, ssl)
    assert (rec.label, rec.strategy, rec.ssl) == (label, strategy, method)
    assert len(rec.reason) > 80


def test_guide_has_exactly_the_eight_cells():
    assert sorted(GUIDE) == sorted((r, b, s) for r, b, s, *_ in TABLE_7)


def test_redundant_low_budget_with_ssl_says_why_ssl_is_off():
    reason = recommend("redundant", "low", True).reason
    assert "without SSL" in reason and "mode collapse" in reason


@pytest.mark.parametrize(
    ("regime", "budget", "ssl"),
    [("curated", "low", True), ("diverse", "medium", False), ("diverse", "low", "yes")],
)
def test_recommend_rejects_unknown_values(regime, budget, ssl):
    with pytest.raises(ConfigError):
        recommend(regime, budget, ssl)


# --- budget regimes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "pool_size", "fraction", "regime"),
    [
        ("2-2", None, 0.10, "low"),
        ("5-5", None, 0.25, "high"),
        ("10-10", None, 0.50, "high"),
        (" 2.5-2.5 ", None, 0.125, "low"),
        ("3-3", None, 0.15, "high"),  # the threshold itself is high
        ("2-2@14", None, 0.14, "low"),
        ("10-10@30", None, 0.30, "high"),
        ("1000+1000x3", 40135, 3000 / 40135, "high"),
        ("12%", None, 0.12, "low"),
        ("0.2", None, 0.2, "high"),
        (0.1, None, 0.1, "low"),
        (264, 2640, 0.1, "low"),
        ("1320", 2640, 0.5, "high"),
        (3000, 40135, 3000 / 40135, "high"),  # A2D2-3K: high by its image count
    ],
)
def test_budget_regime(budget, pool_size, fraction, regime):
    """Including the paper's cases: see test_the_papers_budgets_fall_in_its_regimes too."""
    assert final_labeled_fraction(budget, pool_size) == pytest.approx(fraction)
    assert budget_regime(budget, pool_size) == regime


@pytest.mark.parametrize(
    ("budget", "pool_size"),
    [
        ("abc", None),
        ("2-", None),
        ("2-2-2-2", None),
        ("0-2", None),
        ("10-10-30", None),
        ("30-20", None),
        ("2-2-3", None),
        ("150%", None),
        (0.0, None),
        (1.5, None),
        (True, None),
        (None, None),
        (300, None),
        (0, 100),
        (101, 100),
        ("50", None),
    ],
)
def test_bad_budgets_raise_config_error(budget, pool_size):
    with pytest.raises(ConfigError):
        budget_regime(budget, pool_size)


# --- advice ---------------------------------------------------------------------------------------


def test_advise_combines_report_budget_and_ssl():
    embeddings, sequences, frames = pool_xf(1, 11)
    report = redundancy_index(embeddings, sequences, frames)
    advice = advise(report, budget_regime("10-10"), ssl=True)
    assert advice.recommendation == recommend("redundant", "high", True)
    data = advice.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["recommendation"]["strategy"] == "coreset"
    assert data["redundancy"]["index"] == report.index
    text = advice.render()
    assert "Batch-SSL" in text and "strategy=coreset" in text and "ssl=s4gan" in text
    assert f"{report.index:.2f}" in text and "within 1 frame" in text


def test_advise_without_metadata_and_with_bad_budget():
    report = redundancy_index(pool_0f(2)[0], near_duplicate_fraction=SYNTHETIC_FRACTION)
    text = advise(report, "low", ssl=False).render()
    assert "Recommendation: Random " in text and "time:" not in text
    with pytest.raises(ConfigError):
        advise(report, "2-2", ssl=False)


@pytest.mark.parametrize(
    ("budget", "pool_size", "regime"),
    [
        ("2-2@10", 2640, "low"),  # A2D2 pools, 264 images
        ("5-5@25", 2640, "high"),  # 660 images, 25%
        ("10-10@50", 2640, "high"),
        ("2-2@10", 10582, "low"),  # VOC-aug: 1,058 images, 10%
        ("2-2@10", 2975, "low"),  # Cityscapes
        ("10-10@50", 2975, "high"),
        ("1000+1000x3", 40135, "high"),  # A2D2-3K matches the high-budget Batch-SSL cell
    ],
)
def test_the_papers_budgets_fall_in_its_regimes(budget, pool_size, regime):
    assert budget_regime(budget, pool_size) == regime
