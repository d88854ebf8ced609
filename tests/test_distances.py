"""Blockwise distances against scipy's cdist (a direct, independent implementation).

Small integer coordinates make every distance exact in floating point, so nearest indices and
radius counts must equal cdist's exactly, ties (first index) included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from alseg.distances import (
    as_index_array,
    as_matrix,
    nearest_neighbours,
    nearest_squared,
    paired_distances,
    pairwise_blocks,
    squared_distance_blocks,
    squared_distances_to_row,
    squared_norms,
)

chunks = st.integers(1, 9)
dtypes = st.sampled_from([np.float32, np.float64])
backends = st.sampled_from(["numpy", "torch"])


@st.composite
def integer_points(draw: st.DrawFn, min_rows: int = 0, dim: int | None = None) -> np.ndarray:
    rows = draw(st.integers(min_rows, 25))
    dim = draw(st.integers(1, 4)) if dim is None else dim
    values = draw(st.lists(st.integers(-2, 2), min_size=rows * dim, max_size=rows * dim))
    return np.array(values, dtype=np.float64).reshape(rows, dim)


def to_backend(x: np.ndarray, backend: str, dtype: type) -> np.ndarray | torch.Tensor:
    x = x.astype(dtype)
    return torch.from_numpy(x) if backend == "torch" else x


def as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else x


@settings(max_examples=150, deadline=None)
@given(data=st.data(), chunk=chunks, reference_chunk=chunks, dtype=dtypes, backend=backends)
def test_blocks_tile_the_squared_distance_matrix(
    data: st.DataObject, chunk: int, reference_chunk: int, dtype: type, backend: str
) -> None:
    queries = data.draw(integer_points())
    references = data.draw(integer_points(dim=queries.shape[1]))
    full = np.full((len(queries), len(references)), np.nan)
    blocks = squared_distance_blocks(
        to_backend(queries, backend, dtype),
        to_backend(references, backend, dtype),
        chunk=chunk,
        reference_chunk=reference_chunk,
    )
    for start, ref_start, block in blocks:
        assert block.shape[0] <= chunk and block.shape[1] <= reference_chunk
        window = full[start : start + block.shape[0], ref_start : ref_start + block.shape[1]]
        assert np.isnan(window).all()  # every pair once
        window[...] = as_numpy(block)
    np.testing.assert_array_equal(full, cdist(queries, references, "sqeuclidean"))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), chunk=chunks, reference_chunk=chunks, dtype=dtypes, backend=backends)
def test_nearest_matches_cdist_including_ties(
    data: st.DataObject, chunk: int, reference_chunk: int, dtype: type, backend: str
) -> None:
    queries = data.draw(integer_points())
    references = data.draw(integer_points(dim=queries.shape[1]))
    squared, index = nearest_squared(
        to_backend(queries, backend, dtype),
        to_backend(references, backend, dtype),
        chunk=chunk,
        reference_chunk=reference_chunk,
    )
    if len(references):
        full = cdist(queries, references, "sqeuclidean")
        np.testing.assert_array_equal(as_numpy(squared), full.min(1))
        np.testing.assert_array_equal(as_numpy(index), full.argmin(1))
    else:
        assert np.isinf(as_numpy(squared)).all() and (as_numpy(index) == -1).all()


@settings(max_examples=150, deadline=None)
@given(data=st.data(), chunk=chunks, backend=backends)
def test_nearest_among_reference_rows_returns_their_indices(
    data: st.DataObject, chunk: int, backend: str
) -> None:
    points = data.draw(integer_points(min_rows=1))
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, len(points) - 1)))), dtype=np.int64)
    x = to_backend(points, backend, np.float64)
    squared, index = nearest_squared(x, x, chunk=chunk, reference_rows=rows)
    if len(rows):
        full = cdist(points, points[rows], "sqeuclidean")
        np.testing.assert_array_equal(as_numpy(squared), full.min(1))
        np.testing.assert_array_equal(as_numpy(index), rows[full.argmin(1)])
    else:
        assert np.isinf(as_numpy(squared)).all() and (as_numpy(index) == -1).all()


@settings(max_examples=150, deadline=None)
@given(points=integer_points(), chunk=chunks, backend=backends)
def test_pairwise_blocks_hold_each_pair_once(points: np.ndarray, chunk: int, backend: str) -> None:
    seen = np.zeros((len(points), len(points)), dtype=int)
    full = cdist(points, points, "sqeuclidean")
    for start, col_start, block in pairwise_blocks(
        to_backend(points, backend, np.float64), chunk=chunk
    ):
        assert col_start >= start
        block = as_numpy(block)
        rows, cols = np.meshgrid(
            np.arange(start, start + block.shape[0]),
            np.arange(col_start, col_start + block.shape[1]),
            indexing="ij",
        )
        pair = cols > rows
        assert np.isinf(block[~pair]).all()
        np.testing.assert_array_equal(block[pair], full[rows[pair], cols[pair]])
        seen[rows[pair], cols[pair]] += 1
    np.testing.assert_array_equal(seen, np.triu(np.ones_like(seen), 1))


@settings(max_examples=200, deadline=None)
@given(
    points=integer_points(min_rows=1),
    radius=st.integers(0, 4),
    chunk=chunks,
    backend=backends,
    earlier_only=st.booleans(),
)
def test_nearest_neighbours_match_cdist(
    points: np.ndarray, radius: int, chunk: int, backend: str, earlier_only: bool
) -> None:
    full = cdist(points, points, "sqeuclidean")
    excluded = np.ones_like(full, dtype=bool)
    excluded = np.triu(excluded) if earlier_only else np.eye(len(points), dtype=bool)
    full[excluded] = np.inf
    squared, index, count = nearest_neighbours(
        to_backend(points, backend, np.float32),
        radius,
        chunk=chunk,
        earlier_only=earlier_only,
    )
    has_other = np.isfinite(full).any(1)
    np.testing.assert_array_equal(as_numpy(squared), full.min(1, initial=np.inf))
    np.testing.assert_array_equal(as_numpy(index), np.where(has_other, full.argmin(1), -1))
    np.testing.assert_array_equal(as_numpy(count), (full <= radius**2).sum(1))


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 40),
    dim=st.integers(1, 20),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    chunk=chunks,
)
def test_float_distances_agree_with_cdist(
    seed: int, rows: int, dim: int, scale: float, chunk: int
) -> None:
    rng = np.random.default_rng(seed)
    queries = rng.standard_normal((rows, dim)) * scale
    references = rng.standard_normal((rows + 3, dim)) * scale
    full = cdist(queries, references)
    squared, index = nearest_squared(queries, references, chunk=chunk)
    tolerance = 1e-9 * scale**2 * dim
    np.testing.assert_allclose(squared, full.min(1) ** 2, rtol=1e-9, atol=tolerance)
    np.testing.assert_allclose(full[np.arange(rows), index], full.min(1), rtol=1e-9, atol=1e-6)
    x_sq = squared_norms(references, chunk)
    np.testing.assert_allclose(x_sq, (references**2).sum(1), rtol=1e-12)
    out = np.empty(len(references))
    squared_distances_to_row(references, x_sq, rows // 2, out=out)
    to_row = cdist(references, references[[rows // 2]])[:, 0]
    np.testing.assert_allclose(out, to_row**2, rtol=1e-9, atol=tolerance)
    assert out.min() >= 0.0
    pairs = rng.integers(0, rows, size=(2, 30))
    np.testing.assert_allclose(
        paired_distances(queries, pairs[0], pairs[1], chunk=chunk),
        cdist(queries, queries)[pairs[0], pairs[1]],
        rtol=1e-12,
        atol=1e-12 * scale,
    )


def test_paired_distances_of_exact_copies_are_zero() -> None:
    x = np.array([[1e6, 3.0], [1e6, 3.0], [0.0, 0.0]], dtype=np.float32)
    distances = paired_distances(x, np.array([0, 0, 2]), np.array([1, 2, 2]))
    assert distances[0] == 0.0 and distances[2] == 0.0
    assert distances[1] == pytest.approx(np.hypot(1e6, 3.0))
    assert paired_distances(x, np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)


def test_bad_arguments_raise_value_error() -> None:
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="equally many columns"):
        squared_distance_blocks(x, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="chunk=0"):
        nearest_squared(x, x, chunk=0)
    with pytest.raises(ValueError, match="chunk=0"):
        pairwise_blocks(x, chunk=0)
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbours(np.zeros(4))
    with pytest.raises(ValueError, match="3 first rows for 2"):
        paired_distances(x, np.arange(3), np.arange(2))
    with pytest.raises(ValueError, match="2-D"):
        as_matrix(np.zeros(5), None)
    with pytest.raises(ValueError, match="NaN"):
        as_matrix(np.array([[0.0], [np.nan]]), None)
    with pytest.raises(ValueError, match="index 4 out of range"):
        as_index_array([4], 4)
