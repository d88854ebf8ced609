"""Each SSL trainer on a tiny dataset: finite losses, really uses unlabeled images, never their
labels, deterministic, and supervised when there is nothing unlabeled."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alseg.config import SSLConfig, TrainConfig
from alseg.data.base import Sample, SegDataset, SubsetDataset
from alseg.models import build_model
from alseg.train import FitRequest, FitResult, fit
from tests.fakes import BlobDataset

pytestmark = pytest.mark.slow

TRAIN = TrainConfig(epochs=1, min_iterations=3, batch_size=2, channels_last=False)
# Options that switch every unsupervised term on within three iterations of an untrained model.
OPTIONS = {
    "s4gan": {"st_threshold": 0.0},
    "unimatch": {"confidence": 0.0},
    "u2pl": {"num_queries": 8, "num_negatives": 4, "queue_length": 64, "anchor_threshold": 0.0},
}
TERMS = {
    "s4gan": ("ce", "fm", "st", "discriminator"),
    "unimatch": ("ce", "s1", "s2", "fp"),
    "u2pl": ("ce", "unsupervised", "contrastive"),
}


class ScrambledMasks(SegDataset):
    """The images of ``base`` with random labels: what an SSL trainer sees must not change."""

    def __init__(self, base: SegDataset) -> None:
        self.base = base
        self.name = base.name
        self.class_names = base.class_names

    def __len__(self) -> int:
        return len(self.base)

    def meta(self, index: int):  # noqa: ANN201
        return self.base.meta(index)

    def load(self, index: int) -> Sample:
        sample = self.base[index]
        rng = np.random.default_rng(index)
        mask = rng.choice([0, 1, 2, 255], size=sample.mask.shape).astype(np.int64)
        return Sample(sample.image, mask, sample.meta)


POOL = BlobDataset(sequences=2, frames=5)
LABELED = SubsetDataset(POOL, [0, 5, 1, 6])
UNLABELED = SubsetDataset(POOL, [2, 3, 4, 7, 8, 9])
OTHER_UNLABELED = SubsetDataset(BlobDataset(sequences=2, frames=5, seed=11), [2, 3, 4, 7, 8, 9])


def _train(method: str, unlabeled: SegDataset | None, seed: int = 0):  # noqa: ANN202
    torch.set_num_threads(1)
    torch.manual_seed(123)
    model = build_model(3, weights="none")
    steps: list[tuple[int, int, float]] = []
    ssl = SSLConfig(method=method, options=OPTIONS.get(method, {}))
    result = fit(
        FitRequest(
            model,
            LABELED,
            unlabeled,
            TRAIN,
            ssl,
            torch.device("cpu"),
            seed,
            lambda i, n, loss: steps.append((i, n, loss)),
        )
    )
    return result, model.state_dict(), steps


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], tuple[FitResult, dict[str, torch.Tensor], list]]:
    """Trained once per module: every method on the pool, on scrambled labels, on other images."""
    results = {("none", "pool"): _train("none", UNLABELED)}
    for method in TERMS:
        results[(method, "pool")] = _train(method, UNLABELED)
        results[(method, "scrambled")] = _train(method, ScrambledMasks(UNLABELED))
        results[(method, "other")] = _train(method, OTHER_UNLABELED)
    return results


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("method", list(TERMS))
def test_trains_with_finite_losses_and_every_term_active(runs, method: str) -> None:
    result, state, steps = runs[(method, "pool")]
    assert result.iterations == TRAIN.iterations(len(LABELED)) == 3
    assert [(i, n) for i, n, _ in steps] == [(1, 3), (2, 3), (3, 3)]
    assert steps[-1][2] == result.final_loss == result.losses["total"]
    assert set(result.losses) == {"total", *TERMS[method]}
    assert all(math.isfinite(value) for value in result.losses.values())
    unsupervised = [term for term in TERMS[method] if term not in ("ce", "discriminator")]
    assert all(result.losses[term] > 0 for term in unsupervised), result.losses
    assert all(
        torch.isfinite(tensor).all() for tensor in state.values() if tensor.is_floating_point()
    )


@pytest.mark.parametrize("method", list(TERMS))
def test_unlabeled_masks_are_never_used_and_runs_are_deterministic(runs, method: str) -> None:
    # Same seed, same unlabeled images, different unlabeled labels: bit-identical weights.
    assert _same(runs[(method, "pool")][1], runs[(method, "scrambled")][1])


@pytest.mark.parametrize("method", list(TERMS))
def test_unlabeled_images_change_the_model(runs, method: str) -> None:
    assert not _same(runs[(method, "pool")][1], runs[(method, "other")][1])
    assert not _same(runs[(method, "pool")][1], runs[("none", "pool")][1])


@pytest.mark.parametrize("method", list(TERMS))
def test_without_unlabeled_images_training_is_supervised(runs, method: str) -> None:
    result, state, _ = _train(method, SubsetDataset(POOL, []))
    assert _same(state, runs[("none", "pool")][1])
    assert result.losses == runs[("none", "pool")][0].losses


def test_u2pl_hands_back_its_ema_teacher_unless_asked_for_the_student():
    torch.set_num_threads(1)

    def trained(evaluate_teacher: bool):
        torch.manual_seed(123)
        model = build_model(3, weights="none")
        options = {**OPTIONS["u2pl"], "evaluate_teacher": evaluate_teacher, "ema_decay": 0.9}
        ssl = SSLConfig(method="u2pl", options=options)
        fit(FitRequest(model, LABELED, UNLABELED, TRAIN, ssl, torch.device("cpu"), 0))
        return model.state_dict()

    teacher, student = trained(True), trained(False)
    assert not _same(teacher, student)  # the EMA of the student's steps is not the student
