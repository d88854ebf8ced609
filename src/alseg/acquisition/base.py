"""The strategy seam: a strategy gets the pool state and returns the pool indices to label next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass
class PoolView:
    """What a strategy may look at: labeled/unlabeled pool indices, frame metadata and the
    per-image results of the last inference pass (arrays indexed by pool index)."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    sequences: list[str]
    frames: np.ndarray
    results: dict[str, np.ndarray] = field(default_factory=dict)

    def scores(self, name: str) -> np.ndarray:
        """Scores of the unlabeled images, aligned with ``unlabeled``."""
        return self.results[name][self.unlabeled]

    @property
    def embeddings(self) -> np.ndarray:
        return self.results["embedding"]


Selector = Callable[[PoolView, int, np.random.Generator, dict[str, Any]], np.ndarray]


@dataclass(frozen=True)
class Strategy:
    """A named acquisition function and what its inference pass must compute.

    ``needs`` names per-image results: ``entropy``, ``entropy_minmax``, ``equal``,
    ``equal_consistency``, ``bald`` (with ``mc_passes``), ``embedding``.
    """

    name: str
    kind: Literal["baseline", "single-sample", "batch", "hybrid"]
    description: str
    select: Selector
    needs: frozenset[str] = frozenset()
    head_dropout: float = 0.0

    def summary(self, mc_passes: int = 20) -> str:
        needs = sorted(self.needs)
        parts = [self.kind]
        if "bald" in needs:
            needs.remove("bald")
            parts.append(f"MC dropout x{mc_passes}")
        parts += needs
        return ", ".join(parts)


def top_k(
    scores: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """The k candidates with the highest scores; ties keep a seeded random order."""
    order = rng.permutation(len(candidates))
    ranked = order[np.argsort(-scores[order], kind="stable")]
    return candidates[ranked[:k]]
