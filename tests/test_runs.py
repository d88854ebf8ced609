"""Runs of consecutive close rows: partitions, and distance bounds that hold exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.acquisition.runs import gap_edges, run_balls, run_representatives, split_runs


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    n, dim = draw(st.integers(1, 60)), draw(st.integers(1, 40))
    scale = draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e6]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    walk = np.cumsum(rng.normal(0.0, scale, size=(n, dim)), axis=0)
    return (walk + rng.normal(0.0, 10 * scale, size=dim)).astype(dtype)


def exact_distances(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    diff = x.astype(np.float64) - points.astype(np.float64)
    return np.sqrt((diff * diff).sum(1))


@settings(max_examples=200, deadline=None)
@given(x=matrices(), max_run=st.integers(1, 9))
def test_runs_partition_the_rows_and_bounds_hold(x: np.ndarray, max_run: int) -> None:
    bounds = split_runs(gap_edges(x), max_run)
    assert bounds[0] == 0 and bounds[-1] == len(x)
    sizes = np.diff(bounds)
    assert (sizes >= 1).all() and (sizes <= max_run).all()
    assert set(gap_edges(x)) <= set(bounds)

    centers, radii = run_balls(x, bounds[:-1], bounds[1:])
    assert centers.dtype == x.dtype
    for run, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        assert exact_distances(x[start:stop], centers[run]).max() <= radii[run]

    representatives, offsets = run_representatives(x, bounds)
    run_of_row = np.repeat(np.arange(len(sizes)), sizes)
    assert (representatives >= bounds[run_of_row]).all()
    assert (representatives < bounds[run_of_row + 1]).all()
    assert (exact_distances(x, x[representatives]) <= offsets).all()


def test_a_large_step_starts_a_run() -> None:
    x = np.zeros((6, 2), dtype=np.float32)
    x[:, 0] = [0.0, 1.0, 2.0, 30.0, 31.0, 32.0]
    assert gap_edges(x).tolist() == [0, 3, 6]
    assert split_runs(gap_edges(x), 2).tolist() == [0, 2, 3, 5, 6]
