from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy

from alseg.acquisition.scores import BaldAccumulator, bald, entropy, entropy_map, equal


def _random_logits(seed: int, shape: tuple[int, ...], scale: float = 3.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, scale, shape).astype(np.float32))


def _reference_entropy(logits: torch.Tensor) -> np.ndarray:
    """Mean pixel entropy per image with scipy, pixel by pixel."""
    probs = softmax(logits.double().numpy(), axis=1)
    b, _, h, w = probs.shape
    return np.array(
        [
            np.mean([scipy_entropy(probs[i, :, y, x]) for y in range(h) for x in range(w)])
            for i in range(b)
        ]
    )


def test_entropy_matches_scipy_per_pixel() -> None:
    logits = _random_logits(0, (3, 5, 4, 6))
    np.testing.assert_allclose(entropy(logits).numpy(), _reference_entropy(logits), rtol=1e-5)


def test_two_class_hand_values() -> None:
    # pixel 1: uniform -> ln 2; pixel 2: p = (0.25, 0.75) -> -(.25 ln .25 + .75 ln .75)
    logits = torch.tensor([[[[0.0, math.log(1 / 3)]], [[0.0, 0.0]]]])
    expected_pixel = [math.log(2), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    torch.testing.assert_close(entropy_map(logits)[0, 0], torch.tensor(expected_pixel))
    assert entropy(logits).item() == pytest.approx(sum(expected_pixel) / 2, rel=1e-6)


def test_entropy_is_stable_for_extreme_and_infinite_logits() -> None:
    logits = torch.tensor([[[[1e4, float("-inf")]], [[-1e4, 0.0]]]])
    scores = entropy(logits)
    assert torch.isfinite(scores).all()
    assert scores.item() == pytest.approx(0.0, abs=1e-6)


def test_half_precision_input_is_scored_in_float32() -> None:
    logits = _random_logits(1, (2, 4, 3, 3)).half()
    scores = entropy(logits)
    assert scores.dtype == torch.float32 and scores.shape == (2,)
    np.testing.assert_allclose(scores.numpy(), _reference_entropy(logits.float()), rtol=1e-5)


def test_minmax_quirk_on_hand_example() -> None:
    # pixel entropies: ln 2 (max), 0 (min), h(0.25) -> rescaled 255, 0, 255·h/ln 2
    logits = torch.tensor([[[[0.0, 50.0, math.log(1 / 3)]], [[0.0, -50.0, 0.0]]]])
    h_quarter = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    expected = (255.0 + 0.0 + 255.0 * h_quarter / math.log(2)) / 3
    assert entropy(logits, normalize="minmax").item() == pytest.approx(expected, rel=1e-5)


def test_minmax_of_constant_map_is_zero() -> None:
    logits = torch.zeros(2, 3, 4, 4)
    assert torch.equal(entropy(logits, normalize="minmax"), torch.zeros(2))
    assert entropy(logits).tolist() == pytest.approx([math.log(3)] * 2)


def test_equal_entropy_variant_sums_both_views() -> None:
    logits, flipped = _random_logits(2, (2, 3, 4, 5)), _random_logits(3, (2, 3, 4, 5))
    expected = _reference_entropy(logits) + _reference_entropy(flipped)
    np.testing.assert_allclose(equal(logits, flipped).numpy(), expected, rtol=1e-5)


def test_equal_consistency_is_zero_for_flip_equivariant_model() -> None:
    logits = _random_logits(4, (2, 3, 4, 6))
    # an equivariant model's logits for the flipped image are the flipped logits
    scores = equal(logits, logits.flip(-1), variant="consistency")
    torch.testing.assert_close(scores, torch.zeros(2), atol=1e-6, rtol=0)


def test_equal_consistency_matches_scipy_symmetric_kl() -> None:
    logits, flipped = _random_logits(5, (2, 3, 3, 4)), _random_logits(6, (2, 3, 3, 4))
    p = softmax(logits.double().numpy(), axis=1)
    q = softmax(flipped.double().numpy(), axis=1)[..., ::-1]
    expected = [
        np.mean(
            [
                scipy_entropy(p[i, :, y, x], q[i, :, y, x])
                + scipy_entropy(q[i, :, y, x], p[i, :, y, x])
                for y in range(3)
                for x in range(4)
            ]
        )
        for i in range(2)
    ]
    got = equal(logits, flipped, variant="consistency").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def _reference_bald(mc_logits: torch.Tensor) -> list[float]:
    """Mutual information with explicit Python loops over passes, pixels and classes."""
    t, b, c, h, w = mc_logits.shape
    values = mc_logits.double().tolist()
    scores = []
    for i in range(b):
        total = 0.0
        for y in range(h):
            for x in range(w):
                passes = []
                for s in range(t):
                    z = [values[s][i][k][y][x] for k in range(c)]
                    top = max(z)
                    e = [math.exp(v - top) for v in z]
                    passes.append([v / sum(e) for v in e])
                mean_p = [sum(p[k] for p in passes) / t for k in range(c)]
                h_mean = -sum(m * math.log(m) for m in mean_p if m > 0)
                mean_h = sum(-sum(v * math.log(v) for v in p if v > 0) for p in passes) / t
                total += h_mean - mean_h
        scores.append(total / (h * w))
    return scores


def test_bald_matches_explicit_loops() -> None:
    mc_logits = _random_logits(7, (4, 2, 3, 2, 3))
    np.testing.assert_allclose(bald(mc_logits).numpy(), _reference_bald(mc_logits), rtol=1e-4)


def test_bald_accumulator_equals_bald() -> None:
    mc_logits = _random_logits(8, (5, 3, 4, 3, 3))
    accumulator = BaldAccumulator()
    for pass_logits in mc_logits:
        accumulator.add(pass_logits)
    assert accumulator.passes == 5
    torch.testing.assert_close(accumulator.scores(), bald(mc_logits))


def test_bald_two_class_hand_values() -> None:
    confident_a = torch.tensor([[[[40.0]], [[-40.0]]]])
    confident_b = -confident_a
    disagreeing = torch.stack([confident_a, confident_b])
    assert bald(disagreeing).item() == pytest.approx(math.log(2), rel=1e-6)
    agreeing = torch.stack([confident_a, confident_a])
    assert bald(agreeing).item() == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), passes=st.integers(1, 4), classes=st.integers(2, 5))
def test_bald_and_entropy_lie_within_bounds(seed: int, passes: int, classes: int) -> None:
    mc_logits = _random_logits(seed, (passes, 2, classes, 2, 2), scale=5.0)
    mi = bald(mc_logits)
    assert (mi >= -1e-5).all() and (mi <= math.log(classes) + 1e-5).all()
    h = entropy(mc_logits[0])
    assert (h >= 0).all() and (h <= math.log(classes) + 1e-5).all()


def test_invalid_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="normalize"):
        entropy(torch.zeros(1, 2, 2, 2), normalize="zscore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="B, C, H, W"):
        entropy(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="variant"):
        equal(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), variant="kl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="equal shape"):
        equal(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match="T, B, C, H, W"):
        bald(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="at least one"):
        BaldAccumulator().scores()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_scores_stay_on_cuda_and_match_cpu() -> None:
    logits = _random_logits(9, (2, 3, 4, 4))
    mc = _random_logits(10, (3, 2, 3, 4, 4))
    for fn, args in ((entropy, (logits,)), (bald, (mc,))):
        on_gpu = fn(*(a.cuda() for a in args))
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), fn(*args), rtol=1e-5, atol=1e-6)
