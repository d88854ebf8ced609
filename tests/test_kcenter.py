from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.acquisition import kcenter, kcenter_startup
from alseg.acquisition.kcenter import _greedy_picks, kcenter_greedy


def naive_greedy(points: list[list[float]], labeled: list[int], k: int) -> list[int]:
    """The rule of the spec with explicit loops and math.dist."""
    n = len(points)
    d = [
        min((math.dist(points[u], points[c]) for c in labeled), default=math.inf) for u in range(n)
    ]
    excluded = set(labeled)
    picks: list[int] = []
    for _ in range(k):
        best = -1
        for u in range(n):
            if u not in excluded and (best < 0 or d[u] > d[best]):
                best = u
        picks.append(best)
        excluded.add(best)
        for u in range(n):
            d[u] = min(d[u], math.dist(points[u], points[best]))
    return picks


@st.composite
def integer_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 25))
    dim = draw(st.integers(1, 4))
    values = draw(st.lists(st.integers(0, 2), min_size=n * dim, max_size=n * dim))
    points = np.array(values, dtype=np.float32).reshape(n, dim)
    labeled = np.array(sorted(draw(st.sets(st.integers(0, n - 1), max_size=n - 1))), dtype=np.int64)
    k = draw(st.integers(0, n - len(labeled)))
    return points, labeled, k


@settings(max_examples=200, deadline=None)
@given(problem=integer_problems(), chunk_size=st.integers(1, 9))
def test_matches_naive_greedy_on_integer_points(
    problem: tuple[np.ndarray, np.ndarray, int], chunk_size: int
) -> None:
    points, labeled, k = problem
    expected = naive_greedy(points.tolist(), labeled.tolist(), k)
    got = kcenter_greedy(points, labeled, k, chunk_size=chunk_size)
    assert got.tolist() == expected
    from_torch = kcenter_greedy(torch.from_numpy(points), torch.from_numpy(labeled), k)
    assert from_torch.tolist() == expected
    # the torch loop (used on accelerators), run here on CPU tensors
    torch_loop = _greedy_picks(torch.from_numpy(points), labeled, k, chunk_size)
    assert torch_loop.tolist() == expected


def test_all_duplicate_rows_are_picked_in_index_order_without_repeats() -> None:
    points = np.ones((8, 3), dtype=np.float32)
    assert kcenter_greedy(points, [], 8).tolist() == list(range(8))
    assert kcenter_greedy(points, [2, 5], 4).tolist() == [0, 1, 3, 4]


def test_hand_example() -> None:
    points = np.array([[0.0], [1.0], [5.0], [10.0], [6.0]])
    # d from {0}: 0,1,5,10,6 -> pick 3; then d = 0,1,5,0,4 -> pick 2; then 0,1,0,0,1 -> pick 1
    assert kcenter_greedy(points, [0], 3).tolist() == [3, 2, 1]
    # empty labeled set: every d is infinite, so the first row comes first
    assert kcenter_greedy(points, [], 2).tolist() == [0, 3]


def _exact_trajectory_gaps(points: np.ndarray, labeled: np.ndarray, picks: np.ndarray) -> list:
    """For each pick, max over eligible rows of exact d minus the pick's exact d (float64)."""
    x = points.astype(np.float64)
    d = np.full(len(x), np.inf)
    for c in labeled:
        d = np.minimum(d, np.linalg.norm(x - x[c], axis=1))
    excluded = np.zeros(len(x), dtype=bool)
    excluded[labeled] = True
    gaps = []
    for p in picks:
        assert not excluded[p]
        gaps.append(d[~excluded].max() - d[p])
        excluded[p] = True
        d = np.minimum(d, np.linalg.norm(x - x[p], axis=1))
    return gaps


def test_float32_random_points_follow_an_exact_greedy_trajectory() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(600, 64)).astype(np.float32) + 3.0
    labeled = rng.choice(600, size=50, replace=False)
    picks = kcenter_greedy(points, labeled, 120, chunk_size=37)
    assert len(set(picks.tolist())) == 120
    assert max(_exact_trajectory_gaps(points, labeled, picks)) < 1e-4


def test_float64_random_points_equal_naive_and_chunking_does_not_matter() -> None:
    rng = np.random.default_rng(1)
    points = rng.normal(size=(120, 8))
    labeled = rng.choice(120, size=10, replace=False)
    expected = naive_greedy(points.tolist(), labeled.tolist(), 40)
    for chunk_size in (1, 7, 1024):
        assert kcenter_greedy(points, labeled, 40, chunk_size=chunk_size).tolist() == expected
        as_tensor = torch.from_numpy(points)
        assert _greedy_picks(as_tensor, labeled, 40, chunk_size).tolist() == expected


def test_invalid_inputs_raise_value_error() -> None:
    points = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"k=4 .*0\.\.3"):
        kcenter_greedy(points, [0, 1], 4)
    with pytest.raises(ValueError, match="index 5 out of range"):
        kcenter_greedy(points, [5], 1)
    with pytest.raises(ValueError, match="index -1 out of range"):
        kcenter_greedy(points, [-1], 1)
    with pytest.raises(ValueError, match="integer"):
        kcenter_greedy(points, np.array([0.5]), 1)
    with pytest.raises(ValueError, match="2-D"):
        kcenter_greedy(np.zeros(5), [], 1)
    with pytest.raises(ValueError, match="NaN"):
        kcenter_greedy(np.array([[0.0], [np.nan]]), [], 1)
    with pytest.raises(ValueError, match="chunk_size"):
        kcenter_greedy(points, [], 1, chunk_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_on_integer_points() -> None:
    rng = np.random.default_rng(2)
    points = rng.integers(0, 3, size=(3000, 16)).astype(np.float32)
    labeled = rng.choice(3000, size=100, replace=False)
    on_cpu = kcenter_greedy(points, labeled, 200, chunk_size=64)
    assert kcenter_greedy(points, labeled, 200, chunk_size=64, device="cuda").tolist() == (
        on_cpu.tolist()
    )
    on_device = torch.from_numpy(points).cuda()
    assert kcenter_greedy(on_device, labeled, 200).tolist() == on_cpu.tolist()


def oracle_greedy(points: np.ndarray, labeled: np.ndarray, k: int) -> list[int]:
    """SPEC §2 in float64 with direct differences: exact duplicates are at exactly 0."""
    x = np.asarray(points, dtype=np.float64)
    d2 = np.full(len(x), np.inf)
    for c in labeled:
        d2 = np.minimum(d2, ((x - x[c]) ** 2).sum(1))
    eligible = np.ones(len(x), dtype=bool)
    eligible[labeled] = False
    picks = []
    for _ in range(k):
        pick = int(np.argmax(np.where(eligible, d2, -np.inf)))  # first index on ties
        picks.append(pick)
        eligible[pick] = False
        d2 = np.minimum(d2, ((x - x[pick]) ** 2).sum(1))
    return picks


def video_like(
    drives: int, frames: int, dim: int, step: float, seed: int, jitter: float = 1e-3
) -> np.ndarray:
    """Drives far apart (|x|² ~ 590), each a slow random walk over its frames plus jitter."""
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, math.sqrt(590 / dim), size=(drives, 1, dim))
    walk = np.cumsum(rng.normal(0.0, step, size=(drives, frames, dim)), axis=1)
    x = start + walk + rng.normal(0.0, jitter, size=(drives, frames, dim))
    return x.reshape(drives * frames, dim).astype(np.float32)


def assert_all_paths_match_oracle(
    points: np.ndarray, labeled: np.ndarray, k: int, knobs: dict[str, float]
) -> None:
    """Picks of the numpy and torch loops, with and without pruning, under the internal sizes
    and thresholds ``knobs`` (a draw of ``knob_settings``), equal the float64 oracle's."""
    expected = oracle_greedy(points, labeled, k)
    runs_forced = knobs["min_mean_run"] == 1
    with (
        mock.patch.object(kcenter_startup, "_BLOCK_ELEMENTS", knobs["block_elements"]),
        mock.patch.object(kcenter_startup, "_FEW_CANDIDATES", knobs["few_candidates"]),
        mock.patch.object(kcenter, "_NEARBY_RUN", knobs["short_run"]),
        mock.patch.object(kcenter_startup, "_REFINED_RUN", knobs["short_run"]),
        mock.patch.object(kcenter_startup, "_SUBSET_SHARE", knobs["subset_share"]),
        mock.patch.object(kcenter, "_MIN_MEAN_RUN", knobs["min_mean_run"]),
        mock.patch.object(kcenter, "_NEARBY_MAX_OFFSET", 1e150 if runs_forced else 0.25),
    ):
        for prune in (True, False):
            chunk = int(knobs["chunk_size"])
            got = kcenter_greedy(points, labeled, k, chunk_size=chunk, prune=prune)
            assert got.tolist() == expected, f"prune={prune}"
            # the torch loop (used on accelerators), run here on CPU tensors
            tensor = torch.from_numpy(points)
            on_torch = _greedy_picks(tensor, labeled, k, chunk, prune=prune)
            assert on_torch.tolist() == expected, f"torch, prune={prune}"


@st.composite
def labeled_and_k(draw: st.DrawFn, n: int) -> tuple[np.ndarray, int]:
    labeled = sorted(draw(st.sets(st.integers(0, n - 1), max_size=n - 1)))
    available = n - len(labeled)
    k = draw(st.one_of(st.just(available), st.integers(0, available)))
    return np.array(labeled, dtype=np.int64), k


@st.composite
def random_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n, dim = draw(st.integers(1, 40)), draw(st.integers(1, 24))
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]))
    shift = draw(st.sampled_from([0.0, 10.0, 1000.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    points = (rng.normal(shift, scale, size=(n, dim))).astype(np.float32)
    return points, *draw(labeled_and_k(n))


@st.composite
def duplicate_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """A few distinct rows (grid or random), each repeated many times."""
    n, dim, distinct = draw(st.integers(1, 40)), draw(st.integers(1, 8)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        base = rng.integers(0, 3, size=(distinct, dim)).astype(np.float32)
    else:
        base = rng.normal(20.0, 1.0, size=(distinct, dim)).astype(np.float32)
    points = base[rng.integers(0, distinct, size=n)]
    return points, *draw(labeled_and_k(n))


@st.composite
def video_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    drives, frames = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    dim = draw(st.sampled_from([4, 16, 64]))
    step = draw(st.sampled_from([0.0, 1e-3, 1e-2, 0.05]))
    points = video_like(drives, frames, dim, step, draw(st.integers(0, 2**32 - 1)))
    return points, *draw(labeled_and_k(len(points)))


knob_settings = st.fixed_dictionaries(
    {
        "chunk_size": st.integers(1, 9),
        "block_elements": st.sampled_from([1, 16, 1 << 22]),
        # start-up by runs: every run scanned (0), a mix, every run by its candidates alone
        "few_candidates": st.sampled_from([0, 2, 1 << 20]),
        # pruning by run representatives and the start-up's second level: runs of 1, 2, 8 rows
        "short_run": st.sampled_from([1, 2, 8]),
        # second level: every short run scanned (0), some, every one against its candidates (1)
        "subset_share": st.sampled_from([0.0, 0.5, 1.0]),
        # runs used however short they are (1), or only with video-like structure (4)
        "min_mean_run": st.sampled_from([1, 4]),
    }
)


@settings(max_examples=150, deadline=None)
@given(problem=random_problems(), knobs=knob_settings)
def test_random_points_match_float64_oracle(
    problem: tuple[np.ndarray, np.ndarray, int], knobs: dict[str, float]
) -> None:
    assert_all_paths_match_oracle(*problem, knobs)


@settings(max_examples=150, deadline=None)
@given(problem=duplicate_problems(), knobs=knob_settings)
def test_duplicate_heavy_points_match_float64_oracle(
    problem: tuple[np.ndarray, np.ndarray, int], knobs: dict[str, float]
) -> None:
    assert_all_paths_match_oracle(*problem, knobs)


@settings(max_examples=100, deadline=None)
@given(problem=video_problems(), knobs=knob_settings)
def test_video_like_near_duplicates_match_float64_oracle(
    problem: tuple[np.ndarray, np.ndarray, int], knobs: dict[str, float]
) -> None:
    assert_all_paths_match_oracle(*problem, knobs)


def exact_video_picks(
    drives: int, dim: int, seed: int, labeled: int, k: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Stats of k picks on video-like data (100 frames per drive) after checking them exact."""
    points = video_like(drives=drives, frames=100, dim=dim, step=1e-3, seed=seed)
    rows = np.unique(np.random.default_rng(seed + 1).choice(len(points), labeled, replace=False))
    stats: dict[str, int] = {}
    picks = _greedy_picks(points, rows, k, 1024, stats=stats)
    assert picks.tolist() == oracle_greedy(points, rows, k)
    return points, stats


def test_video_like_picks_are_exact_and_pruning_reads_a_fraction_of_the_rows() -> None:
    # the case: jitter 1e-3 on |x|² ~ 590, where ‖x‖² − 2x·c + ‖c‖² in float32 diverged
    points, stats = exact_video_picks(drives=20, dim=256, seed=0, labeled=20, k=150)
    assert stats["full_passes"] == 0
    assert stats["nearby_runs"] == 20 * math.ceil(100 / kcenter._NEARBY_RUN)  # representatives
    assert stats["rows_read"] < 0.2 * len(points) * 149


def test_video_like_startup_compares_runs_not_rows() -> None:
    points, stats = exact_video_picks(drives=40, dim=64, seed=2, labeled=120, k=50)
    assert 40 <= stats["startup_runs"] <= len(points) / 10
    assert stats["startup_rows_scanned"] < 0.2 * len(points)


def test_random_points_fall_back_to_full_passes_and_retry_pruning_rarely() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(2000, 32)).astype(np.float32)
    labeled = rng.choice(2000, size=200, replace=False)
    stats: dict[str, int] = {}
    picks = _greedy_picks(points, np.unique(labeled), 300, 1024, stats=stats)
    assert picks.tolist() == oracle_greedy(points, labeled, 300)
    assert stats["full_passes"] >= 280
    assert stats["nearby_runs"] == stats["startup_runs"] == 0  # random data: no runs used
    assert stats["rows_read"] < 1.05 * 2000 * 299


def test_second_level_candidate_products_recheck_every_pair_within_their_error() -> None:
    # near-duplicates at |x|² ~ 590: float32 products cannot order the candidates by themselves
    points = video_like(drives=3, frames=12, dim=64, step=1e-3, seed=0, jitter=1e-3)
    labeled = np.unique(np.random.default_rng(0).choice(len(points), 8, replace=False))
    knobs = {"few_candidates": 0, "subset_share": 1.0, "min_mean_run": 1}
    knobs |= {"chunk_size": 1024, "block_elements": 1 << 20, "short_run": 4}
    assert_all_paths_match_oracle(points, labeled, 20, knobs)
    with (
        mock.patch.object(kcenter_startup, "_FEW_CANDIDATES", 0),
        mock.patch.object(kcenter_startup, "_SUBSET_SHARE", 1.0),
    ):
        stats: dict[str, int] = {}
        _greedy_picks(points, labeled, 20, 1024, stats=stats)
    # every row went through the second level's products, none through a scan
    assert stats["startup_rows_refined"] == len(points)
    assert stats["startup_rows_scanned"] == 0


def test_float32_rows_whose_products_would_overflow_are_picked_exactly() -> None:
    # squared norms ~1e39 > float32's largest value: products run in float64 instead
    points = (np.random.default_rng(0).normal(size=(60, 8)) * 1e19).astype(np.float32)
    labeled = np.arange(0, 60, 7)
    expected = oracle_greedy(points, labeled, 10)
    assert kcenter_greedy(points, labeled, 10).tolist() == expected
    assert _greedy_picks(torch.from_numpy(points), labeled, 10, 1024).tolist() == expected


def test_rows_whose_norms_overflow_float64_are_refused() -> None:
    points = np.full((4, 2), 1e200)
    with pytest.raises(ValueError, match="overflow float64"):
        kcenter_greedy(points, [0], 1)
