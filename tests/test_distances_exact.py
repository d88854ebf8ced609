"""The exact (float64, direct difference) kernels and the dot-product rounding bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alseg.distances import (
    dot_error_factor,
    exact_squared_pairs,
    exact_squared_to_row,
    float64_squared_norms,
)


def reference(x: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return ((x[first] - x[second]) ** 2).sum(1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    dim=st.integers(1, 40),
    chunk=st.integers(1, 7),
    seed=st.integers(0, 2**32 - 1),
    double=st.booleans(),
)
def test_exact_kernels_equal_the_float64_expression_bit_for_bit(
    n: int, dim: int, chunk: int, seed: int, double: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(20.0, 1.0, size=(n, dim)).astype(np.float64 if double else np.float32)
    x[rng.integers(0, n, size=n // 2)] = x[0]  # exact duplicates
    row, rows = int(rng.integers(0, n)), rng.integers(0, n, size=2 * n)
    expected = reference(x, rows, np.full(len(rows), row))
    np.testing.assert_array_equal(exact_squared_to_row(x, row, rows, chunk), expected)
    everything = exact_squared_to_row(x, row, None, chunk)
    np.testing.assert_array_equal(everything, reference(x, np.arange(n), np.full(n, row)))
    assert (everything[(x == x[row]).all(1)] == 0).all()
    other = rng.integers(0, n, size=len(rows))
    np.testing.assert_array_equal(
        exact_squared_pairs(x, rows, other, chunk), reference(x, rows, other)
    )
    np.testing.assert_array_equal(
        float64_squared_norms(x, chunk), (x.astype(np.float64) ** 2).sum(1)
    )
    on_torch = exact_squared_to_row(torch.from_numpy(x), row, torch.from_numpy(rows), chunk)
    assert on_torch.dtype == torch.float64
    np.testing.assert_allclose(on_torch.numpy(), expected, rtol=1e-12)
    assert (on_torch.numpy()[expected == 0] == 0).all()


def test_exact_pairs_need_equal_lengths() -> None:
    with pytest.raises(ValueError, match="2 first rows for 1 second rows"):
        exact_squared_pairs(np.zeros((3, 2)), np.arange(2), np.arange(1))


@settings(max_examples=40, deadline=None)
@given(dim=st.integers(1, 2048), seed=st.integers(0, 2**32 - 1))
def test_float32_matrix_products_stay_within_the_bound(dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.normal(0.7, 0.3, size=(64, dim)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
    exact = x.astype(np.float64) @ x[0].astype(np.float64)
    norms = np.linalg.norm(x.astype(np.float64), axis=1)
    bound = dot_error_factor(x) * norms * norms[0]
    assert (np.abs(x @ x[0] - exact) <= bound).all()
    assert (np.abs((x @ x.T)[:, 0] - exact) <= bound).all()


def test_bound_grows_with_dimension_and_with_reduced_precision_products() -> None:
    assert dot_error_factor(np.zeros((1, 1024), np.float32)) < 1e-4
    assert dot_error_factor(np.zeros((1, 1024))) < 1e-11
    assert dot_error_factor(np.zeros((1, 64), np.float32)) < dot_error_factor(
        np.zeros((1, 1024), np.float32)
    )
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")  # TF32 allowed
        assert dot_error_factor(torch.zeros(1, 1024)) > 2.0**-8
    finally:
        torch.set_float32_matmul_precision(before)
    assert dot_error_factor(torch.zeros(1, 1024)) < 1e-4
