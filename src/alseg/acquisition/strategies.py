"""Registry of acquisition strategies: name -> Strategy (SPEC §2, plus two batch-aware extras)."""

from __future__ import annotations

from typing import Any

import numpy as np

from alseg.acquisition.base import PoolView, Strategy, top_k
from alseg.errors import unknown_name


def _random(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    return rng.permutation(view.unlabeled)[:k]


def _ranked_by(score_name: str):
    def select(
        view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
    ) -> np.ndarray:
        return top_k(view.scores(score_name), view.unlabeled, k, rng)

    return select


def _coreset(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    from alseg.acquisition.kcenter import kcenter_greedy

    return np.asarray(kcenter_greedy(view.embeddings, view.labeled, k), dtype=np.int64)


def _uniform(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    from alseg.acquisition.batch import uniform_in_time

    return np.asarray(uniform_in_time(view.sequences, view.frames, view.unlabeled, k))


def _uniform5_entropy(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    from alseg.acquisition.batch import every_nth

    candidates = np.asarray(every_nth(view.sequences, view.frames, view.unlabeled, n=5))
    if len(candidates) < k:  # too few after the prefilter: fall back to every unlabeled frame
        candidates = view.unlabeled
    return top_k(view.results["entropy"][candidates], candidates, k, rng)


def _typiclust(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    from alseg.acquisition.batch import typiclust

    return np.asarray(typiclust(view.embeddings, view.labeled, k, rng))


def _diverse_entropy(
    view: PoolView, k: int, rng: np.random.Generator, options: dict[str, Any]
) -> np.ndarray:
    from alseg.acquisition.batch import diverse_entropy

    scores = view.results["entropy"]
    return np.asarray(diverse_entropy(view.embeddings, scores, view.unlabeled, k, rng))


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("random", "baseline", "uniformly random images", _random),
        Strategy(
            "entropy",
            "single-sample",
            "highest mean pixel entropy",
            _ranked_by("entropy"),
            frozenset({"entropy"}),
        ),
        Strategy(
            "entropy-minmax",
            "single-sample",
            "entropy with each map rescaled to 0..255 (official quirk)",
            _ranked_by("entropy_minmax"),
            frozenset({"entropy_minmax"}),
        ),
        Strategy(
            "equal",
            "single-sample",
            "EquAL: entropy of the image plus entropy of its flip",
            _ranked_by("equal"),
            frozenset({"equal"}),
        ),
        Strategy(
            "equal-consistency",
            "single-sample",
            "EquAL: symmetric KL between predictions on the image and its flip",
            _ranked_by("equal_consistency"),
            frozenset({"equal_consistency"}),
        ),
        Strategy(
            "bald",
            "single-sample",
            "BALD mutual information under MC dropout in the decoder head",
            _ranked_by("bald"),
            frozenset({"bald"}),
            head_dropout=0.5,
        ),
        Strategy(
            "coreset",
            "batch",
            "k-center greedy on 2x2-pooled ASPP embeddings",
            _coreset,
            frozenset({"embedding"}),
        ),
        Strategy(
            "uniform", "baseline", "evenly spaced frames in time within each sequence", _uniform
        ),
        Strategy(
            "uniform5-entropy",
            "hybrid",
            "every 5th frame in time, then highest entropy",
            _uniform5_entropy,
            frozenset({"entropy"}),
        ),
        Strategy(
            "typiclust",
            "batch",
            "TypiClust: the most typical image of each uncovered cluster (low budgets)",
            _typiclust,
            frozenset({"embedding"}),
        ),
        Strategy(
            "diverse-entropy",
            "hybrid",
            "weighted k-means over the most uncertain images (Zhdanov 2019)",
            _diverse_entropy,
            frozenset({"entropy", "embedding"}),
        ),
    )
}
#: Not an acquisition function: train once on the whole pool (the 100% reference).
FULL = "full"


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise unknown_name("strategy", name, [*STRATEGIES, FULL])
    return STRATEGIES[name]


def strategy_names() -> list[str]:
    return [*STRATEGIES, FULL]
